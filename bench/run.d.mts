/** Run the bench with command-line arguments (see `--help`); resolves to the exit code. */
export function bench(argv: string[]): Promise<number>;
