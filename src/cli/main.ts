import { main } from './program.js';

/**
 * Under npm (`npx faultline ...`, `npm start`) this process runs below `sh -c`, which does not
 * pass on the SIGTERM npm forwards: the shell dies and faultline would run on, orphaned. So when
 * npm started us and our parent goes away, we take it as that SIGTERM (once: the sidecar then
 * drains as usual). Outside npm nothing changes (`nohup faultline sidecar &` keeps running).
 */
function followNpmParent(): void {
  if (process.env.npm_command === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
}

/** `faultline` entry point (bin/faultline.js loads this): see program.ts. */
followNpmParent();
const code = await main(process.argv.slice(2));
if (code !== 0) process.exitCode = code;
