import t from 'tap';
import { describeScenario } from '../../src/cli/commands/scenarios.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { scenarioRegistry } from '../../src/scenarios/index.js';
import { policyText } from '../helpers/sidecar.js';

const listeners = ['{name: up, listen: "127.0.0.1:0", upstream: "127.0.0.1:1"}'];
const types = (rules: string, kernelFaults?: boolean) =>
  compilePolicy(policyText({ listeners, rules }), 'p.yaml', { kernelFaults }).rules[0]?.faults.map((f) => [f.type.type, (f.options as { probability?: number }).probability]);

t.test('network_degradation uses real packet loss where the sidecar can install it', async (t) => {
  const captured = '    - {name: r, match: {direction: outbound, ports: [5432]}, scenario: network_degradation}';
  t.same(types(captured, true), [['latency', undefined], ['packet_loss', 0.05], ['bandwidth', undefined]], 'on-demand, captured traffic: packet_loss 5% instead of emulated stalls');
  t.same(types(captured), [['latency', undefined], ['loss', 0.05], ['bandwidth', undefined]], 'elsewhere (and in faultline validate): loss, as before');
  t.same(types('    - {name: r, match: {listener: up}, scenario: network_degradation}', true), [['latency', undefined], ['loss', 0.05], ['bandwidth', undefined]], 'an explicit listener\'s traffic is loopback: loss');
  t.same(types('    - {name: r, scenario: network_degradation, faults: [{type: loss, probability: 0.2}]}', true)?.[1], ['packet_loss', 0.2], 'an override written for loss changes the packet_loss that replaces it');
  t.same(types('    - {name: r, scenario: network_degradation, faults: [{type: packet_loss, probability: 0.1}]}', true)?.[1], ['packet_loss', 0.1], 'or one written for packet_loss');
  t.match(describeScenario(scenarioRegistry.get('network_degradation')!), /with on-demand interception, for rules without a listener:\n    - loss → \{ type: packet_loss, probability: 0\.05 \}/, 'faultline scenarios says so');
});
