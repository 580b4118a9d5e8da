/** `rewards completion bash|zsh`: a shell completion script for the commands and their options, generated from the program itself. */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { contextFrom } from './context.js';

/** Every command with its long options (global ones included), from the program as registered. */
function words(program: Command): Map<string, string[]> {
  const global = program.options.map((o) => o.long).filter((x): x is string => Boolean(x));
  const out = new Map<string, string[]>();
  for (const c of program.commands) out.set(c.name(), [...c.options.map((o) => o.long).filter((x): x is string => Boolean(x)), ...global, '--help']);
  return out;
}

function bash(program: Command): string {
  const w = words(program);
  const cases = [...w].map(([name, opts]) => `    ${name}) opts="${opts.join(' ')}" ;;`).join('\n');
  return `# rewards completion for bash: eval "$(rewards completion bash)", or save it in /etc/bash_completion.d/rewards
_rewards() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="" i opts
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in --db|--config) ((i++)) ;; -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=( $(compgen -W "${[...w.keys()].join(' ')} ${program.options.map((o) => o.long).join(' ')} --help --version" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
    *) opts="--help" ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -o filenames -F _rewards rewards
`;
}

function zsh(program: Command): string {
  const w = words(program);
  const cmds = program.commands.map((c) => `'${c.name()}:${c.description().replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`).join(' ');
  const cases = [...w].map(([name, opts]) => `    ${name}) _arguments ${opts.map((o) => `'${o}[]'`).join(' ')} '*:file:_files' ;;`).join('\n');
  return `#compdef rewards
# rewards completion for zsh: rewards completion zsh > "\${fpath[1]}/_rewards", then compinit
_rewards() {
  if (( CURRENT == 2 )); then
    local -a commands; commands=(${cmds})
    _describe 'command' commands
    return
  fi
  case "\${words[2]}" in
${cases}
  esac
}
compdef _rewards rewards
`;
}

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script for rewards (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText(
      'after',
      `
Examples:
  eval "$(rewards completion bash)"                # in ~/.bashrc
  rewards completion zsh > "\${fpath[1]}/_rewards"   # then restart zsh`,
    )
    .action((shell: string, _flags: unknown, cmd: Command) => {
      const ctx = contextFrom(cmd);
      if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`completion: the shell must be bash or zsh, not "${shell}"`);
      ctx.stdout.write(shell === 'bash' ? bash(program) : zsh(program));
    });
}
