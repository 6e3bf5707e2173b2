import t from 'tap';
import { describe, runSoak } from '../../bench/soak.js';

// The reliability suite (npm run soak) in about 30 seconds: the same probes, smaller.
t.test('the reliability suite, short: held connections, soak, integrity, fuzz, drain', async (t) => {
  const f = await runSoak({ seconds: 8, held: 500, mib: 20, fuzz: 300, transfers: 200 });
  t.comment(describe(f));
  t.equal(f.held.open, 500, 'every held connection open');
  t.equal(f.held.reachedByReload, 501, 'a reload reached every live connection (and the ping)');
  t.equal(f.soak.failed, 0, 'no short connection failed during the policy rewrites');
  t.ok(f.soak.connections > 1000, `${f.soak.connections} short connections`);
  t.equal(f.soak.activeAfter, 0, 'connections_active back to 0');
  t.ok(f.soak.fds[1] <= f.soak.fds[0] + 4, `fds ${f.soak.fds[0]} → ${f.soak.fds[1]}`);
  t.ok(f.soak.rssMiB[1] - f.soak.rssMiB[0] < 96, `RSS ${f.soak.rssMiB[0].toFixed(1)} → ${f.soak.rssMiB[1].toFixed(1)} MiB`);
  t.ok(f.integrity.identical, 'bytes identical through the fault toggles');
  t.notOk(f.fuzz.crashed, 'the fuzzed inputs crashed nothing');
  t.match(f.drain, { complete: 200, reset: 0, truncated: 0, exitCode: 0 }, 'drain: the 200 downloads at SIGTERM complete, exit 0');
  t.match(f.drain, { cutReset: 200, cutTruncated: 0 }, 'every endless download is reset at the drain deadline, none ends as if complete');
});
