import { z } from 'zod';
import { probability } from '../policy/units.js';
import { defineFault } from './types.js';

interface PacketLossOptions {
  probability: number;
}

/**
 * Real packet loss, in the kernel: netfilter drops each packet of the rule's traffic (TCP and
 * UDP, by its peers and ports) with `probability`, so TCP really retransmits. On-demand
 * interception's root helper installs it while the rule is active; elsewhere it is refused.
 */
export const packetLoss = defineFault<PacketLossOptions>({
  type: 'packet_loss',
  summary: 'drop packets in the kernel with probability (per packet; on-demand interception)',
  options: z.strictObject({ probability }),
  defaultStream: 'both',
  timeBounds: false,
  probabilityPer: 'chunk',
  kernel: (options) => ({ dropProbability: options.probability }),
});
