import { Counter, Registry } from 'prom-client';
const r = new Registry();
const c = new Counter({ name: 'x', help: 'x', labelNames: ['code', 'faulted', 'listener', 'direction'], registers: [r] });
const labels = { listener: 'l', direction: 'outbound' };
for (let k = 0; k < 3; k++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200000; i++) c.inc({ ...labels, code: String(200), faulted: String(false) });
  const t1 = process.hrtime.bigint();
  console.log('inc ns', Number(t1 - t0) / 200000);
}
const cached = { listener: 'l', direction: 'outbound', code: '200', faulted: 'false' };
for (let k = 0; k < 3; k++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200000; i++) c.inc(cached);
  const t1 = process.hrtime.bigint();
  console.log('cached-labels inc ns', Number(t1 - t0) / 200000);
}
const child = c.labels(cached);
for (let k = 0; k < 3; k++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 200000; i++) child.inc();
  const t1 = process.hrtime.bigint();
  console.log('child inc ns', Number(t1 - t0) / 200000);
}
