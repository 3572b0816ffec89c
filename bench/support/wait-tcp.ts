/** Waiting from inside a network namespace until something accepts TCP connections at host:port. */
import { exec } from '../../control/base/exec';

/** Resolves once host:port accepts a connection from inside netns; rejects after 10 s. */
export async function waitTcpInNs(netns: string, host: string, port: number): Promise<void> {
  const probe = `const net=require('net');const end=Date.now()+10000;(function t(){net.connect(${port},'${host}').on('connect',function(){this.destroy();process.exit(0)}).on('error',()=>Date.now()>end?process.exit(1):setTimeout(t,50))})()`;
  await exec(['ip', 'netns', 'exec', netns, process.execPath, '-e', probe], { timeoutMs: 15_000 });
}
