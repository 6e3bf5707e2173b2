import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';

const root = new URL('../', import.meta.url).pathname;
const pages = ['README.md', 'CHANGELOG.md', ...readdirSync(`${root}docs`).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

t.test('the README and docs stand alone: no file outside the repository, no work-tracking words', async (t) => {
  for (const page of pages) {
    const text = readFileSync(root + page, 'utf8');
    t.notMatch(text, /\.\.\/shared|SPEC\.md|\bthe SPEC\b|SPEC's/, `${page} names no contract outside the repository`);
    t.notMatch(text, /\b(the|this|that|an?) issue\b|\banchors?\b|\b(the|this|a) session\b(?! (ticket|key|id|cache|resum))/i, `${page} has no work-tracking words`);
  }
});

t.test("the README's table of contents lists its sections, in order, with working anchors", async (t) => {
  const text = readFileSync(`${root}README.md`, 'utf8');
  const toc = text.slice(text.indexOf('<!-- toc -->'), text.indexOf('<!-- /toc -->'));
  const after = text.slice(text.indexOf('<!-- /toc -->')).replace(/```[\s\S]*?```/g, '');
  const headings = [...after.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]);
  const listed = [...toc.matchAll(/^\s*- \[(.+)\]\(#([^)]+)\)$/gm)];
  t.same(listed.map((m) => m[1]), headings);
  for (const [, title, anchor] of listed) t.equal(anchor, title!.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));
  t.match(text, /npx faultline/, 'the README says how to run the CLI from a checkout');
  t.match(text, /npm install -g/, 'and how to install it globally');
  t.match(text, /kind create cluster/, 'and has a local-cluster quickstart');
});

t.test('LICENSE is the Apache License 2.0 that package.json declares', async (t) => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { license: string };
  t.equal(pkg.license, 'Apache-2.0');
  t.match(readFileSync(`${root}LICENSE`, 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
});
