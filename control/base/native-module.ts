/**
 * Loads one of the native parts scripts/build-native.sh compiles (dns/native/udp-batch.c, mesh/native/tcp-relay.c),
 * or says why it cannot be used and how to fix it, as an Error the caller may throw or fall back on: each part
 * has a slower path in plain Node (dgram; Node's TCP handles) for a machine without a C compiler.
 */
export function loadNative<T>(file: string, what: string, linuxApis: string): T | Error {
  if (process.platform !== 'linux') return new Error(`${what} needs Linux's ${linuxApis} (this is ${process.platform})`);
  try {
    return require(file) as T;
  } catch (err) {
    return new Error(
      `${what} is not built (${file}: ${(err as Error).message.split('\n')[0]}); ` +
        'install a C compiler (apt-get install -y gcc libc6-dev) and run npm run build',
    );
  }
}
