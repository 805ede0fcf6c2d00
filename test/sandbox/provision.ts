import type { Sandbox, SandboxAdmin } from './sandbox-api.js';

/**
 * What an Azure image looks like after provisioning: an admin user with the deployment's
 * key, a NOPASSWD line in /etc/sudoers.d/waagent (the file the agent writes), the
 * agent's ovf-env.xml with the public keys, and no node anywhere on PATH.
 */
export async function provision(sandbox: Sandbox, adminUser: string): Promise<SandboxAdmin> {
  const key = await sandbox.generateKey(`${adminUser}-provisioned`, 'ed25519');
  await sandbox.execOk(['useradd', '--create-home', '--shell', '/bin/bash', '--comment', 'provisioned admin', adminUser]);
  const home = `/home/${adminUser}`;
  await sandbox.writeFile(`${home}/.ssh/authorized_keys`, `${key.publicKey}\n`, 0o600);
  await sandbox.execOk(['chmod', '0700', `${home}/.ssh`]);
  await sandbox.execOk(['chown', '-R', `${adminUser}:${adminUser}`, `${home}/.ssh`]);
  await sandbox.writeFile('/etc/sudoers.d/waagent', `${adminUser} ALL=(ALL) NOPASSWD: ALL\n`, 0o440);
  await sandbox.execOk(['visudo', '-c', '-q']);
  await sandbox.execOk(['mkdir', '-p', '-m', '0700', '/var/lib/waagent']);
  await sandbox.writeFile('/var/lib/waagent/ovf-env.xml', ovfEnv(adminUser, key.publicKey), 0o600);
  return { name: adminUser, privateKeyPath: key.privateKeyPath, publicKey: key.publicKey };
}

function ovfEnv(adminUser: string, publicKey: string): string {
  const escaped = publicKey.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure" xmlns:ns2="http://www.w3.org/2001/XMLSchema-instance">',
    '  <ns1:ProvisioningSection>',
    '    <ns1:Version>1.0</ns1:Version>',
    '    <ns1:LinuxProvisioningConfigurationSet>',
    '      <ns1:ConfigurationSetType>LinuxProvisioningConfiguration</ns1:ConfigurationSetType>',
    '      <ns1:HostName>sandbox</ns1:HostName>',
    `      <ns1:UserName>${adminUser}</ns1:UserName>`,
    '      <ns1:DisableSshPasswordAuthentication>true</ns1:DisableSshPasswordAuthentication>',
    '      <ns1:SSH>',
    '        <ns1:PublicKeys>',
    '          <ns1:PublicKey>',
    '            <ns1:Fingerprint />',
    `            <ns1:Path>/home/${adminUser}/.ssh/authorized_keys</ns1:Path>`,
    `            <ns1:Value>${escaped}</ns1:Value>`,
    '          </ns1:PublicKey>',
    '        </ns1:PublicKeys>',
    '      </ns1:SSH>',
    '    </ns1:LinuxProvisioningConfigurationSet>',
    '  </ns1:ProvisioningSection>',
    '</ns0:Environment>',
    '',
  ].join('\n');
}

