import t from 'tap';
import { matchesSelector, parseSelector } from '../../src/fleet/selector.js';

const pod = { app: 'shop', tier: 'web', 'example.com/team': 'pay', version: '3' };
const matches = (selector: string, labels: Record<string, string> = pod) => matchesSelector(parseSelector(selector), labels);

t.test('the label selector grammar of kubectl -l', async (t) => {
  t.same(parseSelector(''), [], 'empty selects everything');
  t.ok(matches(''));
  t.same(parseSelector('app=shop'), [{ key: 'app', operator: '=', values: ['shop'] }]);
  t.same(parseSelector(' app == shop , tier!=db '), [
    { key: 'app', operator: '=', values: ['shop'] },
    { key: 'tier', operator: '!=', values: ['db'] },
  ], 'spaces around tokens, == as =');
  t.same(parseSelector('env in (prod, staging),tier notin (db)'), [
    { key: 'env', operator: 'in', values: ['prod', 'staging'] },
    { key: 'tier', operator: 'notin', values: ['db'] },
  ]);
  t.same(parseSelector('app,!canary'), [{ key: 'app', operator: 'exists', values: [] }, { key: 'canary', operator: '!', values: [] }]);
  t.same(parseSelector('version>2,version<10'), [{ key: 'version', operator: 'gt', values: ['2'] }, { key: 'version', operator: 'lt', values: ['10'] }]);
  t.same(parseSelector('example.com/team=pay,app='), [{ key: 'example.com/team', operator: '=', values: ['pay'] }, { key: 'app', operator: '=', values: [''] }], 'prefixed keys, empty values');

  t.same(parseSelector('app=='), [{ key: 'app', operator: '=', values: [''] }], 'app== is app= (an empty value)');
  t.ok(matches('app=shop,tier in (web,api)'));
  t.notOk(matches('app=shop,tier in (api)'));
  t.ok(matches('tier notin (db),missing!=x,!canary'), '!= and notin hold for an absent label');
  t.notOk(matches('app!=shop'));
  t.ok(matches('example.com/team'));
  t.notOk(matches('!app'));
  t.ok(matches('version>2'));
  t.notOk(matches('version<3'));
  t.notOk(matches('tier>1'), 'a non-integer label never compares');
});

t.test('bad selectors are refused with what is wrong', async (t) => {
  const bad: [string, RegExp][] = [
    ['app=shop,', /expected a label key, found the end/],
    ['app=shop tier=web', /expected "," between requirements/],
    ['env in prod', /expected "\(" after in/],
    ['env in ()', /in needs at least one value/],
    ['env in (a b)', /expected "," or "\)"/],
    ['-app=shop', /not a label key/],
    ['app=sh op', /expected "," between requirements/],
    ['app=' + 'x'.repeat(64), /not a label value/],
    ['Example.com/team=x', /prefix .* must be a DNS subdomain/],
    ['version>two', /needs an integer/],
    ['app=(x)', /after "app"|expected/],
    ['!', /expected a label key after "!"/],
    ['!a=b', /expected "," between requirements/],
    ['a~b', /not a label key/],
  ];
  for (const [selector, message] of bad) {
    t.throws(() => parseSelector(selector), { code: 'FL_ERR_USAGE', message }, selector);
  }
});
