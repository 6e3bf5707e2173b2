import { execFileSync } from 'node:child_process';
import t from 'tap';

const module = new URL('../../src/interception/privileges.ts', import.meta.url).href;

t.test('root drops to the proxy user for good: no way back, no capability left', { skip: process.getuid?.() === 0 ? false : 'needs root' }, async (t) => {
  const script = `
import { dropPrivileges, effectiveCapabilities } from ${JSON.stringify(module)};
const out = { before: effectiveCapabilities() > 0n };
dropPrivileges(1337, 1337);
out.uid = process.getuid(); out.euid = process.geteuid(); out.gid = process.getgid(); out.groups = process.getgroups();
out.after = String(effectiveCapabilities());
try { dropPrivileges(1337, 1337); } catch (err) { out.again = err.code; }
try { process.setuid(0); } catch (err) { out.back = err.code; }
console.log(JSON.stringify(out));`;
  const out = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' })) as Record<string, unknown>;
  // Node always lists the effective group among the groups: no supplementary one is left.
  t.same(out, { before: true, uid: 1337, euid: 1337, gid: 1337, groups: [1337], after: '0', again: 'FL_ERR_PRIVILEGES', back: 'EPERM' });
});
