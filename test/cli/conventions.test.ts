import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildProgram } from '../../src/cli/program.js';
import { commandPath, COMMAND_HELP } from '../../src/cli/help.js';
import { VERSION } from '../../src/version.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/sidecar.js';

const dir = tempDir(t);
const policy = join(dir, 'policy.yaml');
writeFileSync(policy, 'apiVersion: faultline.dev/v1alpha1\nkind: FaultPolicy\nmetadata: {name: p}\nspec: {listeners: [], rules: []}\n');
const local = ['--admin', 'http://127.0.0.1:1'];

/**
 * One table for every command: the arguments, the exit code (0 done, 1 failed, 2 usage) and
 * what stderr says. Every usage error is one line that names the flag or value and the help.
 */
const CASES: [string[], number, RegExp?][] = [
  [[], 2, /^Usage: faultline \[options\] \[command\]/],
  [['bogus'], 2, /^faultline: unknown command 'bogus' \(see 'faultline --help'\)\n$/],
  [['--bogus'], 2, /^faultline: unknown option '--bogus'/],
  [['sidecar'], 2, /^faultline: required option '--policy <file>' not specified \(see 'faultline sidecar --help'\)\n$/],
  [['sidecar', '--policy', policy, '--interception', 'sometimes'], 2, /--interception: "sometimes" must be always or on-demand/],
  [['sidecar', '--policy', policy, '--interception-lease', 'soon'], 2, /--interception-lease/],
  [['validate'], 2, /missing required argument 'files'/],
  [['validate', '--bogus', policy], 2, /unknown option '--bogus' \(see 'faultline validate --help'\)/],
  [['validate', join(dir, 'missing.yaml')], 1],
  [['validate', '-o', 'xml', policy], 2, /argument 'xml' is invalid. Allowed choices are text, json, yaml/],
  [['demo', '--base-port', 'abc'], 2, /^faultline: option '--base-port <port>' argument 'abc' is invalid. expected a whole number from 0 to 65532 \(see 'faultline demo --help'\)\n$/],
  [['demo', '--base-port', '70000'], 2, /--base-port/],
  [['demo', '--base-port', '-1'], 2, /--base-port/],
  [['iptables', '--dry-run', '--inbound-ports', 'abc'], 2, /--inbound-ports/],
  [['iptables', '--dry-run', '--ipv6', 'maybe'], 2, /--ipv6/],
  [['iptables', '--dry-run', '-o', 'xml'], 2, /Allowed choices are text, json, yaml/],
  [['inject', '--bogus'], 2],
  [['inject', '-f', join(dir, 'missing.yaml')], 1, /cannot read it \(ENOENT\)/],
  [['webhook'], 2, /required option '--tls-cert <file>'/],
  [['manifests', '--bogus'], 2],
  [['scenarios', 'nope'], 2, /unknown scenario "nope"/],
  [['scenarios', '-o', 'csv'], 2, /Allowed choices/],
  [['run'], 2, /give an experiment file/],
  [['run', '--random', '--interval', 'soon'], 2, /'--interval <duration>' argument 'soon' is invalid. not a duration; write e.g. "5s"/],
  [['run', '--random', '--duration', '-5s'], 2, /must not be negative/],
  [['run', '--random', '--probability', '2'], 2, /expected a probability from 0 to 1/],
  [['run', '--random', '--seed', 'x'], 2, /--seed/],
  [['install', '--interception', 'sometimes'], 2, /--interception: "sometimes" must be always, on-demand or none/],
  [['install', '--certificates', 'x'], 2, /--certificates/],
  [['install', '-o', 'xml'], 2, /Allowed choices are yaml, json/],
  [['status', ...local, '--timeout', 'soon'], 2, /--timeout: "soon" must be a duration/],
  [['status', ...local, '-o', 'xml'], 2, /-o: "xml" must be table, json or yaml/],
  [['status', ...local, '--concurrency', '0'], 2, /--concurrency/],
  [['status', '--admin', 'not a url'], 2, /--admin: "not a url" is not a URL/],
  [['killswitch'], 2, /missing required argument 'state'/],
  [['killswitch', 'maybe', ...local], 2, /maybe/],
  [['rules'], 2, /^Usage: faultline rules \[options\] \[command\]/],
  [['rules', 'add', ...local], 2, /required option '-f, --filename <file>' not specified \(see 'faultline rules add --help'\)/],
  [['rules', 'delete', ...local], 2, /missing required argument 'name'/],
  [['rules', 'list', ...local, '-o', 'xml'], 2],
  [['connections', ...local, '--limit', '0'], 2, /--limit/],
  [['credentials', 'explode'], 2, /explode/],
  [['controller', '--bogus'], 2],
  [['version', '-o', 'xml'], 2],
  [['completion'], 2, /missing required argument 'shell'/],
  [['completion', 'fish'], 2, /unknown shell "fish"; use bash or zsh/],
  [['--log-level', 'verbose', 'version'], 2, /^faultline: --log-level: unknown log level "verbose"; use one of fatal, error, warn, info, debug, trace, silent\n$/],
  [['--log-format', 'xml', 'version'], 2, /^faultline: --log-format: unknown log format "xml"; use text or json\n$/],
  [['version', '--log-format', 'json'], 0],
];

t.test('exit codes and one-line errors, from one table', async (t) => {
  for (const [args, code, stderr] of CASES) {
    const result = await cli(args);
    t.equal(result.code, code, `faultline ${args.join(' ')} exits ${code}: ${result.stderr}`);
    if (stderr) t.match(result.stderr, stderr, `faultline ${args.join(' ')}: ${result.stderr}`);
    if (code === 2 && !result.stderr.startsWith('Usage:')) t.equal(result.stderr.trim().split('\n').length, 1, `faultline ${args.join(' ')}: one line`);
    t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
  }
});

t.test('FAULTLINE_LOG_LEVEL: a bad level is refused with the list, a good one works', async (t) => {
  const bad = await cli(['validate', policy], { env: { FAULTLINE_LOG_LEVEL: 'verbose' } });
  t.equal(bad.code, 2);
  t.equal(bad.stderr, 'faultline: FAULTLINE_LOG_LEVEL: unknown log level "verbose"; use one of fatal, error, warn, info, debug, trace, silent\n');
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) {
    t.equal((await cli(['validate', policy], { env: { FAULTLINE_LOG_LEVEL: level } })).code, 0, level);
  }
  t.equal((await cli(['validate', policy], { env: { FAULTLINE_LOG_FORMAT: 'xml' } })).code, 2);
});

t.test('every command has --help with examples and environment variables, and no (default: "")', async (t) => {
  const walk = (c: ReturnType<typeof buildProgram>): ReturnType<typeof buildProgram>[] => [c, ...c.commands.flatMap(walk)];
  const commands = walk(buildProgram()).filter((c) => c.name() !== 'help');
  t.ok(commands.length >= 20);
  for (const command of commands) {
    const path = commandPath(command);
    t.ok(COMMAND_HELP[path], `"${path}" has examples`);
    const { code, stdout } = await cli([...(path ? path.split(' ') : []), '--help']);
    t.equal(code, 0, `${path} --help`);
    t.match(stdout, /\nExamples:\n {2}\$ .*faultline /, `${path} --help shows examples`);
    t.match(stdout, /\nEnvironment:\n {2}/, `${path} --help shows the environment`);
    t.match(stdout, /--log-level <level>/, `${path} --help shows the global options`);
    t.notMatch(stdout, /\(default: ""\)/, `${path} --help has no empty default`);
  }
  t.equal((await cli(['help', 'validate'])).code, 0);
});

t.test('--version, -v and version', async (t) => {
  t.same(await cli(['--version']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  t.same(await cli(['-v']), { code: 0, stdout: `${VERSION}\n`, stderr: '' });
  t.match((await cli(['version'])).stdout, new RegExp(`^faultline ${VERSION.replace(/\./g, '\\.')} \\(Node\\.js v\\d+`));
  t.match(JSON.parse((await cli(['version', '-o', 'json'])).stdout), { version: VERSION, node: process.version });
  t.match((await cli(['version', '-o', 'yaml'])).stdout, new RegExp(`^version: ${VERSION.replace(/\./g, '\\.')}\\n`));
});

t.test('-o json|yaml where a command prints data', async (t) => {
  const validate = await cli(['validate', policy, join(dir, 'missing.yaml'), '-o', 'json']);
  t.equal(validate.code, 1);
  t.same(JSON.parse(validate.stdout), [{ file: policy, ok: true, problems: [] }, { file: join(dir, 'missing.yaml'), ok: false, problems: [`${join(dir, 'missing.yaml')}:1:1: file not found`] }]);
  const scenarios = JSON.parse((await cli(['scenarios', '-o', 'json'])).stdout) as { name: string; faults: unknown[] }[];
  t.ok(scenarios.some((s) => s.name === 'partition' && s.faults.length > 0));
  const plan = JSON.parse((await cli(['iptables', '--dry-run', '--ipv6', 'off', '-o', 'json'])).stdout) as { commands: string[] };
  t.ok(plan.commands.includes('iptables -t nat -A FAULTLINE_REDIRECT -p tcp -j REDIRECT --to-ports 15001'), 'iptables --dry-run -o json: the commands');
  const list = JSON.parse((await cli(['install', '-o', 'json'])).stdout) as { kind: string; items: { kind: string }[] };
  t.equal(list.kind, 'List');
  t.ok(list.items.some((i) => i.kind === 'MutatingWebhookConfiguration'));
});

t.test('completion bash: a real bash completes commands, sub-commands, options and their values', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const script = join(dir, 'faultline.bash');
  writeFileSync(script, (await cli(['completion', 'bash'])).stdout);
  const complete = (words: string[]) =>
    execFileSync('bash', ['-c', `source "$0"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _faultline; printf '%s\\n' "\${COMPREPLY[@]}"`, script], { encoding: 'utf8', cwd: dir })
      .split('\n').filter(Boolean).sort();
  t.same(complete(['faultline', 'sta']), ['status']);
  t.same(complete(['faultline', 'rules', '']), ['add', 'delete', 'list']);
  t.ok(complete(['faultline', 'sidecar', '--']).includes('--policy'));
  t.ok(complete(['faultline', 'rules', 'add', '--']).includes('--filename'), 'options of a nested command');
  t.ok(complete(['faultline', 'validate', '--']).includes('--log-level'), 'and the global options');
  t.same(complete(['faultline', 'validate', '-o', '']), ['json', 'table', 'text', 'yaml']);
  t.same(complete(['faultline', '--log-format', '']), ['json', 'text']);
  t.ok(complete(['faultline', 'validate', 'pol']).includes('policy.yaml'), 'file names as arguments');
  t.notOk(complete(['faultline', '']).includes('manifests'), 'hidden commands are not offered');
  const zsh = (await cli(['completion', 'zsh'])).stdout;
  t.match(zsh, /^#compdef faultline\n[\s\S]*bashcompinit[\s\S]*complete -o filenames -F _faultline faultline\n$/);
});

t.test('sidecar: every bad flag value is one line and exit 2, before anything listens', async (t) => {
  const { runCli } = await import('../helpers/process.js');
  const base = ['sidecar', '--policy', policy, '--metrics', '127.0.0.1:0', '--admin', '127.0.0.1:0'];
  const cases: [string[], RegExp][] = [
    [['--metrics', 'nope'], /^faultline: --metrics: expected HOST:PORT \(e\.g\. 127\.0\.0\.1:15000\), got "nope"\n$/],
    [['--admin', 'nope'], /^faultline: --admin: expected HOST:PORT/],
    [['--toxiproxy-api', 'nope'], /^faultline: --toxiproxy-api: expected HOST:PORT/],
    [['--inbound-port', 'abc'], /^faultline: --inbound-port: "abc" is not a port/],
    [['--dns-port', 'abc'], /^faultline: --dns-port: "abc" is not a port \(0-65535\)\n$/],
  ];
  for (const [flags, message] of cases) {
    const result = await runCli([...base, ...flags, '--log-level', 'silent']);
    t.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`);
    t.match(result.stderr, message, flags.join(' '));
  }
});

t.test('an unexpected error: one line and exit 1; its stack only with --debug', async (t) => {
  const { errorReport } = await import('../../src/cli/program.js');
  const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
  t.same(errorReport(bug, false), { text: "faultline: unexpected error: Cannot read properties of undefined (reading 'x') (run again with --debug for the stack trace)\n", code: 1 });
  const debug = errorReport(bug, true);
  t.equal(debug.code, 1);
  t.match(debug.text, /^faultline: unexpected error: TypeError: Cannot read properties[^\n]*\n\s+at /, 'with --debug, the stack');
  t.same(errorReport('thrown string', false).code, 1);
});
