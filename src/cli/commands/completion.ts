import type { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { LOG_FORMATS, LOG_LEVELS } from '../../log.js';
import { commandPath } from '../help.js';
import { output } from '../output.js';

/** Every command of the program with its path ("rules add"), sub-commands and option names. */
function tree(program: Command): { path: string; commands: string[]; options: string[] }[] {
  const out: { path: string; commands: string[]; options: string[] }[] = [];
  const walk = (command: Command) => {
    // The program's own options (--log-level, --debug...) are taken after any command too.
    const options = [...command.options, ...(command === program ? [] : program.options)].flatMap((o: Option) => [o.short, o.long].filter((f): f is string => f !== undefined));
    out.push({ path: commandPath(command), commands: command.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden).map((c) => c.name()), options: [...options, '--help'] });
    for (const sub of command.commands) walk(sub);
  };
  walk(program);
  return out;
}

/** Values of the options whose values are a fixed list (-o, --log-level...), for completing them. */
function choiceCases(program: Command): string {
  const choices = new Map<string, string[]>([['--log-level', [...LOG_LEVELS]], ['--log-format', [...LOG_FORMATS]]]);
  const walk = (command: Command) => {
    for (const option of command.options) {
      const list = (option as unknown as { argChoices?: string[] }).argChoices;
      if (list) for (const flag of [option.short, option.long]) if (flag) choices.set(flag, [...new Set([...(choices.get(flag) ?? []), ...list])]);
    }
    command.commands.forEach(walk);
  };
  walk(program);
  choices.set('-o', [...new Set([...(choices.get('-o') ?? []), 'table', 'json', 'yaml'])]);
  choices.set('--output', choices.get('-o') as string[]);
  return [...choices].map(([flag, list]) => `    ${flag}) COMPREPLY=($(compgen -W "${list.join(' ')}" -- "$cur")); return ;;`).join('\n');
}

/** The bash completion function: it finds the command path in the words typed, then offers its sub-commands, options or an option's values. */
export function bashCompletion(program: Command): string {
  const nodes = tree(program);
  const known = nodes.map((n) => `    "${n.path}") subs="${n.commands.join(' ')}"; opts="${n.options.join(' ')}" ;;`).join('\n');
  return `# faultline completion for bash: source <(faultline completion bash)
_faultline() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" subs opts i word
  case "$prev" in
${choiceCases(program)}
  esac
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in -*) continue ;; esac
    _faultline_node "$path"
    case " $subs " in *" $word "*) path="\${path:+$path }$word" ;; esac
  done
  _faultline_node "$path"
  if [[ "$cur" == -* || -z "$subs" ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    [[ "$cur" != -* ]] && COMPREPLY+=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
  fi
}
_faultline_node() {
  subs=""; opts=""
  case "$1" in
${known}
  esac
}
complete -o filenames -F _faultline faultline
`;
}

/** zsh runs the bash function through its bashcompinit layer: one definition of the words for both shells. */
export function zshCompletion(program: Command): string {
  return `#compdef faultline
# faultline completion for zsh: source <(faultline completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program).split('\n').slice(1).join('\n')}`;
}

/** `faultline completion bash|zsh`: prints the shell's completion script. */
export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash or zsh')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion: unknown shell "${shell}"; use bash or zsh`);
      output.stdout(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
