import t from 'tap';
import { leftOf, processesOf, startBench } from '../helpers/bench.js';
import { tempDir } from '../helpers/sidecar.js';

// Every process a bench run starts is gone when the run ends, however it ends. Each run here
// carries an id of its own in its processes' environment, which is how they are found.

t.test('the runner killed with SIGKILL mid-run: no process of the run is left', async (t) => {
  const run = startBench(['--smoke', '--out', tempDir(t)]);
  await run.waitFor('round 1/1');
  const during = processesOf(run.id);
  t.ok(during.some((p) => p.cmd.includes('upstreams.ts')), 'the origins run');
  t.ok(during.some((p) => p.cmd.includes(' sidecar ')), 'sidecars run');
  t.ok(during.some((p) => /^haproxy .*origin\.cfg/.test(p.cmd)), "the origins' own HAProxy runs");
  run.child.kill('SIGKILL');
  await run.exited;
  t.same(await leftOf(run.id), [], 'none is left');
});

t.test('Ctrl-C (SIGINT) mid-run: exit 130, no process of the run is left', async (t) => {
  const run = startBench(['--smoke', '--out', tempDir(t)]);
  await run.waitFor('warm-up');
  run.child.kill('SIGINT');
  t.equal(await run.exited, 130);
  t.match(run.stderr(), /SIGINT, stopping every process of the run/);
  t.same(await leftOf(run.id), [], 'none is left');
});

t.test('a path that fails to start is reported, the run completes and leaves nothing', async (t) => {
  // /bin/false exits at once: the Toxiproxy paths cannot start.
  const run = startBench(['--smoke', '--out', tempDir(t), '--toxiproxy', '/bin/false', '--paths', 'toxiproxy']);
  t.equal(await run.exited, 0, 'exit 0', { stderr: run.stderr().slice(-400) });
  t.match(run.stdout(), /\| toxiproxy \| did not start: /);
  t.match(run.stdout(), /\| node-pipe \| \d/, 'the references ran');
  t.same(await leftOf(run.id), [], 'none is left');
});
