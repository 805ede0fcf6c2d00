import { Command, CommanderError } from 'commander';
import { LIFECYCLE_OPERATIONS, type HandlerOperation } from './operations.js';

/** The command line: one subcommand per lifecycle operation, plus `expire`, `plan` and `diagnose`. */


export interface HandlerOptions {
  /** HandlerEnvironment.json to use instead of the one in the working directory. */
  handlerEnvironment?: string;
  /** The guest agent's lib dir (certificates) instead of the handler directory's parent. */
  agentLibDir?: string;
  /** plan and diagnose: print one JSON document. */
  json?: boolean;
  /** diagnose only: the account to check (default: the accounts in /etc/sudoers.d/waagent and the provisioned admin). */
  user?: string;
}

export interface CliHandlers {
  lifecycle(operation: HandlerOperation, options: HandlerOptions): Promise<number>;
  plan(requestFile: string, options: HandlerOptions): Promise<number>;
  diagnose(options: HandlerOptions): Promise<number>;
}

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
}

export function createProgram(handlers: CliHandlers, output: CliOutput, version: string, setExitCode: (code: number) => void): Command {
  const program = new Command('vmaccess')
    .description('Rescue access to a Linux VM: the VMAccessForLinux extension handler')
    .version(version)
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: (text) => output.err(text) })
    .showHelpAfterError();

  for (const operation of LIFECYCLE_OPERATIONS) {
    program
      .command(operation)
      .description(`the guest agent's ${operation} command`)
      .option('--handler-environment <file>', 'HandlerEnvironment.json to use (default: the one in the working directory)')
      .option('--agent-lib-dir <dir>', "the guest agent's lib dir holding the certificates (default: the handler directory's parent)")
      .action(async (options: HandlerOptions) => {
        setExitCode(await handlers.lifecycle(operation, options));
      });
  }

  program
    .command('expire')
    .description('revoke time-limited access (access_minutes) whose deadline has passed; run by the access-expiry timer')
    .option('--handler-environment <file>', 'HandlerEnvironment.json to use (default: the one in the working directory)')
    .action(async (options: HandlerOptions) => {
      setExitCode(await handlers.lifecycle('expire', options));
    });

  program
    .command('plan')
    .description('validate a request ({"publicSettings":…,"protectedSettings":…} in plain JSON) and print what enable would do here; changes nothing')
    .argument('<request>', 'request file')
    .option('--agent-lib-dir <dir>', "the guest agent's lib dir (for provisioning keys)", '/var/lib/waagent')
    .option('--json', 'print the plans as JSON (the public part of each action plan; never a secret)')
    .action(async (requestFile: string, options: HandlerOptions) => {
      setExitCode(await handlers.plan(requestFile, options));
    });

  program
    .command('diagnose')
    .description('why cannot someone log in? check the SSH login path on this machine (run as root); changes nothing, reads no secret')
    .option('--user <name>', 'the account to check (default: the accounts in /etc/sudoers.d/waagent and the provisioned admin)')
    .option('--agent-lib-dir <dir>', "the guest agent's lib dir (ovf-env.xml names the provisioned admin)", '/var/lib/waagent')
    .option('--json', 'print the verdicts as JSON')
    .action(async (options: HandlerOptions) => {
      setExitCode(await handlers.diagnose(options));
    });

  return program;
}

export function isCommanderExit(error: unknown): error is CommanderError {
  return error instanceof CommanderError;
}
