/**
 * The `normlab` command tree. Each command lives in `commands/<name>.ts` as a function returning
 * a commander `Command`; add yours to `COMMANDS` below. `createProgram()` then gives every
 * command the same error handling: commander never exits or prints by itself, so `runCli` can
 * turn any usage error into one line on stderr and exit code 2.
 */
import { Command } from 'commander';
import { setWarningHandler } from '@normlab/tensor';
import { analyzeCommand } from './commands/analyze.js';
import { benchCommand } from './commands/bench.js';
import { evalCommand } from './commands/eval.js';
import { exportCommand } from './commands/export.js';
import { reproduceCommand } from './commands/reproduce.js';
import { trainCommand } from './commands/train.js';
import { formatError } from './errors.js';

/** The subcommands in `normlab --help` order; each call makes a fresh commander `Command`. */
export const COMMANDS: ReadonlyArray<() => Command> = [trainCommand, evalCommand, exportCommand, analyzeCommand, reproduceCommand, benchCommand];

function version(): string {
  return '0.1.0';
}

/** Apply our parsing settings to a command and its subcommands. */
function configure(cmd: Command, errors: string[]): void {
  cmd
    .exitOverride()
    .showHelpAfterError(false)
    .allowExcessArguments(false)
    .configureOutput({
      // Commander's own error text ("error: unknown option '--x'") is collected, not printed: runCli prints it as one line.
      outputError: (str) => {
        errors.push(str);
      },
    });
  for (const sub of cmd.commands) configure(sub, errors);
}

/** What `createProgram` returns. */
export interface Program {
  /** The `normlab` command with every subcommand, set to throw instead of exiting. */
  program: Command;
  /** Commander's messages for the error being thrown, if any. */
  errors: string[];
}

/** A fresh `normlab` command (`runCli` parses with one); its errors are collected rather than printed. */
export function createProgram(): Program {
  const errors: string[] = [];
  const program = new Command('normlab')
    .description('normalization layers (BN, GN, GN+, HybridNorm) in TypeScript: train, evaluate, analyze, reproduce the paper')
    .version(version(), '-V, --version');
  for (const make of COMMANDS) program.addCommand(make());
  // Every package's warnings (a backend's fallbacks, a skipped statistics update) go through one
  // channel (@normlab/tensor): --quiet, which means nothing but errors, closes it for any command.
  program.hook('preAction', (_program, command) => {
    setWarningHandler(command.opts<{ quiet?: boolean }>().quiet ? () => {} : undefined);
  });
  configure(program, errors);
  return { program, errors };
}

/**
 * Run the command line `argv` (without `node` and the script). Returns the exit code: 0 on
 * success and after --help / --version, 2 for a user error, 1 for an internal error.
 */
export async function runCli(argv: readonly string[], io: { stderr: (s: string) => void } = { stderr: (s) => process.stderr.write(s) }): Promise<number> {
  const { program } = createProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    // No command given: commander printed the help to stderr; that is a usage error.
    if (code === 'commander.help') return (e as { exitCode?: number }).exitCode === 0 ? 0 : 2;
    const { line, exitCode } = formatError(e);
    io.stderr(line + '\n');
    if (process.env.NORMLAB_DEBUG && e instanceof Error && e.stack) io.stderr(e.stack + '\n');
    return exitCode;
  }
}
