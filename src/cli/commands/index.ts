import type { Command } from 'commander';
import { register as connections } from './connections.js';
import { register as completion } from './completion.js';
import { register as controller } from './controller.js';
import { register as credentials } from './credentials.js';
import { register as demo } from './demo.js';
import { register as inject } from './inject.js';
import { register as install } from './install.js';
import { register as iptables } from './iptables.js';
import { register as killswitch } from './killswitch.js';
import { register as manifests } from './manifests.js';
import { register as rules } from './rules.js';
import { register as run } from './run.js';
import { register as scenarios } from './scenarios.js';
import { register as sidecar } from './sidecar.js';
import { register as status } from './status.js';
import { register as validate } from './validate.js';
import { register as version } from './version.js';
import { register as webhook } from './webhook.js';

/** A sub-command registers itself on the program. One file per command in this folder. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  sidecar, validate, demo, iptables, inject, webhook, manifests, scenarios, run,
  install, status, killswitch, rules, connections, credentials, controller, version, completion,
];
