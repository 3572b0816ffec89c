/** The Shoal release, shown by /version, /info and node descriptions. */
export const SHOAL_VERSION = "0.1.0";
