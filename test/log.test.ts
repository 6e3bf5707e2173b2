import t from 'tap';
import { configureLogging, logger, logLevelProblem, redirectLog, textLine } from '../src/log.js';

/** What the root logger writes while `fn` runs. */
function captured(fn: () => void): string {
  let text = '';
  redirectLog((line) => void (text += line));
  try {
    fn();
  } finally {
    redirectLog(undefined);
  }
  return text;
}

t.test('text lines: time, level, component, message, then the fields', async (t) => {
  const line = textLine(JSON.stringify({ level: 40, time: '2026-12-02T01:02:03.456Z', pid: 1, name: 'faultline', component: 'proxy', msg: 'upstream refused', conn: 7, cause: 'connect ECONNREFUSED 127.0.0.1:1' }));
  t.equal(line, '01:02:03.456 WARN  proxy: upstream refused conn=7 cause="connect ECONNREFUSED 127.0.0.1:1"\n');
  t.equal(textLine('not json\n'), 'not json\n', 'a line that is not JSON passes as it is');
});

t.test('--log-format: json for collectors, text for people, auto by terminal', async (t) => {
  const level = logger.level;
  t.teardown(() => {
    logger.level = level;
    configureLogging({ format: 'auto' });
  });
  configureLogging({ level: 'info', format: 'json' });
  t.match(JSON.parse(captured(() => logger.child({ component: 'c' }).info({ n: 1 }, 'hello'))), { level: 30, component: 'c', n: 1, msg: 'hello' });
  configureLogging({ format: 'text' });
  t.match(captured(() => logger.child({ component: 'c' }).info({ n: 1 }, 'hello')), /^\d\d:\d\d:\d\d\.\d{3} INFO  c: hello n=1\n$/);
  configureLogging({ level: 'warn' });
  t.equal(captured(() => logger.info('hidden')), '', 'below the level: nothing');
  const tty = process.stdout.isTTY;
  t.teardown(() => void (process.stdout.isTTY = tty));
  process.stdout.isTTY = true;
  configureLogging({ format: 'auto' });
  t.match(captured(() => logger.warn('on a terminal')), /^\S+ WARN  on a terminal\n$/);
  process.stdout.isTTY = false;
  configureLogging({ format: 'auto' });
  t.match(JSON.parse(captured(() => logger.warn('in a pipe'))), { msg: 'in a pipe' });
});

t.test('levels: the documented ones, others refused with the list', async (t) => {
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) t.equal(logLevelProblem(level, 'x'), undefined);
  t.equal(logLevelProblem('verbose', '--log-level'), '--log-level: unknown log level "verbose"; use one of fatal, error, warn, info, debug, trace, silent');
});
