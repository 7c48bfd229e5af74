/** Where the CLI writes: injectable so that tests capture output. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Rewrite the current status line (progress bar); only used on a TTY. */
  status(text: string): void;
  isTTY: boolean;
}

export function processIo(): CliIo {
  const tty = Boolean(process.stderr.isTTY);
  let statusShown = false;
  const clear = () => {
    if (statusShown) { process.stderr.write('\r\x1b[2K'); statusShown = false; }
  };
  return {
    out: (l) => { clear(); process.stdout.write(`${l}\n`); },
    err: (l) => { clear(); process.stderr.write(`${l}\n`); },
    status: (t) => { if (tty) { process.stderr.write(`\r\x1b[2K${t}`); statusShown = true; } },
    isTTY: tty,
  };
}
