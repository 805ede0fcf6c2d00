"""Read one extension status file with the real Azure Linux guest agent's code.

Usage: python3 agent-status.py <agent dist-packages dir> <status file> <handler name> <handler version>

The agent's modules come from Debian's `waagent` package, unpacked (never installed or
started). The file is placed where the agent looks for it, in a throw-away lib dir, and
read by ExtHandlerInstance.collect_ext_status, the function the agent uses on every
status report; parse_ext_status is also called directly so that a malformed file fails
loudly instead of being turned into an error status. Prints one JSON object.
"""

import json
import os
import shutil
import sys
import tempfile
import warnings


def main():
    agent_dir, status_file, handler_name, handler_version = sys.argv[1:5]
    sys.path.insert(0, agent_dir)
    warnings.simplefilter("ignore")  # distutils deprecation noise on newer Pythons

    from azurelinuxagent.common import conf
    from azurelinuxagent.common.protocol.restapi import Extension, ExtensionSettings, ExtensionStatus
    from azurelinuxagent.ga import exthandlers

    seq = int(os.path.basename(status_file).split(".")[0])
    work = tempfile.mkdtemp(prefix="agent-status-")
    try:
        lib_dir = os.path.join(work, "lib")
        log_dir = os.path.join(work, "log")
        status_dir = os.path.join(lib_dir, "{0}-{1}".format(handler_name, handler_version), "status")
        os.makedirs(status_dir)
        os.makedirs(log_dir)
        shutil.copyfile(status_file, os.path.join(status_dir, "{0}.status".format(seq)))
        conf_file = os.path.join(work, "waagent.conf")
        with open(conf_file, "w") as handle:
            handle.write("Lib.Dir={0}\nExtension.LogDir={1}\n".format(lib_dir, log_dir))
        conf.load_conf_from_file(conf_file)

        handler = Extension(name=handler_name)
        handler.version = handler_version
        settings = ExtensionSettings(name=handler_name, sequenceNumber=seq)
        handler.settings.append(settings)
        instance = exthandlers.ExtHandlerInstance(handler, None)
        # The agent retries an unreadable file 5 times, 2 s apart; the retries stay, the wait goes.
        exthandlers._STATUS_FILE_RETRY_DELAY = 0

        problems = []
        # Strict pass: the agent's own parser, with its exceptions left visible.
        try:
            data_str, data = exthandlers.ExtHandlerInstance._read_and_parse_json_status_file(
                os.path.join(status_dir, "{0}.status".format(seq)))
            strict = ExtensionStatus(name=handler_name, seq_no=seq)
            exthandlers.parse_ext_status(strict, data)
            if len(data_str) > exthandlers._MAX_STATUS_FILE_SIZE_IN_BYTES:
                problems.append("status file is {0} characters, over the agent's limit of {1}".format(
                    len(data_str), exthandlers._MAX_STATUS_FILE_SIZE_IN_BYTES))
            if not isinstance(data, list) or not data:
                problems.append("status file is not a non-empty array")
            else:
                raw = data[0].get("status", {}).get("status")
                if raw not in exthandlers.ExtensionStatusValue.STRINGS:
                    problems.append("status.status {0!r} is not one the agent accepts; it would report error".format(raw))
        except Exception as error:  # the agent's own error, verbatim
            problems.append("{0}: {1}".format(type(error).__name__, error))

        # What the agent would report upstream for this sequence number.
        reported = instance.collect_ext_status(settings)
        result = {
            "problems": problems,
            "agentVersion": getattr(exthandlers, "AGENT_VERSION", None) or _agent_version(),
            "reported": None if reported is None else {
                "status": reported.status,
                "code": reported.code,
                "operation": reported.operation,
                "message": reported.message,
                "configurationAppliedTime": reported.configurationAppliedTime,
                "substatus": [
                    {"name": sub.name, "status": sub.status, "code": sub.code, "message": sub.message}
                    for sub in reported.substatusList
                ],
            },
        }
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _agent_version():
    from azurelinuxagent.common import version
    return str(version.AGENT_VERSION)


if __name__ == "__main__":
    main()
