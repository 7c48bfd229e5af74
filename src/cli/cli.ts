/** The `deq` command: dispatch to subcommands; every outcome is an exit code, never an uncaught throw. */
import * as E from 'fp-ts/lib/Either.js';
import { type CommandSpec, helpText, parseFlags, suggest, type Parsed } from './args.js';
import { checkCommand, checkSpec } from './check.js';
import { evalCommand, evalSpec } from './eval.js';
import { exportCommand, exportSpec } from './export.js';
import type { CliIo } from './io.js';
import { plotCommand, plotSpec } from './plot.js';
import { trainCommand, trainSpec } from './train.js';

const commands: { spec: CommandSpec; run: (f: Parsed, io: CliIo) => Promise<number> }[] = [
  { spec: trainSpec, run: trainCommand },
  { spec: evalSpec, run: evalCommand },
  { spec: plotSpec, run: plotCommand },
  { spec: exportSpec, run: exportCommand },
  { spec: checkSpec, run: checkCommand },
];

export const mainHelp = (): string =>
  [
    'deq: Deep Equilibrium Models traced to ONNX and run on onnxruntime.',
    '',
    'Usage: deq <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.spec.name.padEnd(8)}${c.spec.summary}`),
    '',
    'Run deq <command> --help for its options. Quick start:',
    '  deq train            # MLP DEQ on the bundled MNIST digits, checkpoint in ./deq-run',
    '  deq eval             # test error and per-sample solver iterations and residuals of the trained model',
    '  deq plot             # residual per iteration of the trained model → deq-run/residuals.{svg,png}',
    '  deq export           # cells and their VJP/JVP graphs → onnx-models/',
    '  deq check cell.onnx  # a cell and its gradients on every runtime present, against a float64 reference',
    '',
  ].join('\n');

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp());
    return name === undefined ? 1 : 0;
  }
  const cmd = commands.find((c) => c.spec.name === name);
  if (!cmd) {
    const s = suggest(name, commands.map((c) => c.spec.name));
    io.err(`deq: unknown command '${name}'${s ? `; did you mean 'deq ${s}'?` : ''} (commands: ${commands.map((c) => c.spec.name).join(', ')}; see deq --help)`);
    return 2;
  }
  const flags = parseFlags(cmd.spec, rest);
  if (E.isLeft(flags)) { io.err(flags.left.message); return 2; }
  if (flags.right.help) { io.out(helpText(cmd.spec)); return 0; }
  try {
    return await cmd.run(flags.right, io);
  } catch (e) {
    io.err(`deq ${name}: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return 1;
  }
}
