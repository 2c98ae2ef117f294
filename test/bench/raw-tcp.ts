// What a migration link carries by itself: one plain TCP stream from a lab host to another's
// migration address, for the benchmarks to set Ferry's rate against. `around` runs the sending
// (so the caller can sample a NIC over it) once the sink listens; the sink is stopped afterwards.
import { labExec, labHost, labSpawn } from '../support/lab.js';

export async function rawTcpStream<T>(
  from: string,
  to: string,
  port: number,
  ms: number,
  around: (send: () => Promise<void>) => Promise<T>,
): Promise<T> {
  const dst = JSON.stringify(labHost(to).migIp);
  const sink = labSpawn(
    to,
    ['node', '-e', `require('net').createServer((s)=>s.resume()).listen(${port},${dst},()=>console.log('listening'))`],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  try {
    await new Promise((resolve) => sink.stdout!.once('data', resolve));
    return await around(async () => {
      await labExec(from, [
        'node',
        '-e',
        `const s=require('net').connect(${port},${dst});const b=Buffer.alloc(1<<20,7);` +
          `const end=Date.now()+${ms};const w=()=>{while(Date.now()<end){if(!s.write(b))return s.once('drain',w)}s.end()};s.on('connect',w);`,
      ]);
    });
  } finally {
    sink.kill('SIGTERM');
  }
}
