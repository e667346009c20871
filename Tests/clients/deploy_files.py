"""Readers of the operator's files in deploy/, for test_deploy.py: systemd units, the
Containerfile, the `exchange` commands that compose and Kubernetes files run, and what
`exchange ... --help` accepts (the yardstick those commands are held to)."""

import functools
import itertools
import os
import re
import shlex
import subprocess

from cluster import ROOT

DEPLOY = os.path.join(ROOT, "deploy")

# Secrets a role refuses to start without (named in its --help); the Redis password is
# optional (a Redis may have none) and the internal token too (ops ports may be open).
REQUIRED_SECRETS = ("EXCHANGE_MASTER_KEY", "EXCHANGE_TOKEN_KEY", "EXCHANGE_WALLET_KEY", "EXCHANGE_WALLET_XPUB")
SECRETS = REQUIRED_SECRETS + ("EXCHANGE_INTERNAL_TOKEN", "EXCHANGE_REDIS_PASSWORD")


def read_unit(path):
    """A systemd unit or drop-in as [(section, key, value)] in file order, continuation lines joined."""
    entries, section, logical = [], None, ""
    for line in open(path).read().splitlines():
        line = line.strip()
        if not logical and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        line, logical = logical + line, ""
        if line.startswith("["):
            section = line.strip("[]")
        else:
            key, _, value = line.partition("=")
            entries.append((section, key.strip(), value.strip()))
    return entries


def values(entries, key, section="Service"):
    return [value for entry_section, entry_key, value in entries if entry_section == section and entry_key == key]


def assignments(entries):
    """NAME -> value of every Environment= assignment."""
    return dict(word.split("=", 1) for value in values(entries, "Environment") for word in shlex.split(value))


def read_environment_file(path):
    """NAME -> value of a KEY=VALUE file (comments and blank lines skipped)."""
    lines = (line.strip() for line in open(path))
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def containerfile_stages(path):
    """[(FROM arguments, [(INSTRUCTION, arguments)])] of a Containerfile, continuation lines joined."""
    stages, logical = [], ""
    for line in open(path).read().splitlines():
        if not logical and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        instruction, _, arguments = (logical + line).strip().partition(" ")
        logical = ""
        if instruction.upper() == "FROM":
            stages.append((arguments.split(), []))
        else:
            stages[-1][1].append((instruction.upper(), " ".join(arguments.split())))
    return stages


def apt_installs(instructions):
    """Packages that RUN apt-get install lines of a stage install."""
    packages = set()
    for instruction, arguments in instructions:
        for command in re.split(r"&&|;", arguments) if instruction == "RUN" else ():
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                packages.update(word for word in words[2:] if not word.startswith("-"))
    return packages


def linked_libraries(binary):
    """Paths of the shared libraries `ldd` resolves for `binary` (the vDSO has none)."""
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return [match.group(1) for match in re.finditer(r"(/\S+) \(0x", output)]


def debian_packages(paths):
    """library path -> the Debian package that owns it, or None. dpkg records a library under
    the path its package ships it at: /lib or /usr/lib (merged /usr), the soname or the file."""
    candidates = {}
    for path in paths:
        names = [path, os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path)), os.path.realpath(path)]
        candidates[path] = names + [name[len("/usr"):] for name in names if name.startswith("/usr/")]
    # One query for all (dpkg -S is slow to start); it exits 1 when any pattern is unknown.
    output = subprocess.run(["dpkg", "-S", *{name for names in candidates.values() for name in names}],
                            capture_output=True, text=True).stdout
    owners = {line.split(": ", 1)[1]: line.split(":", 1)[0] for line in output.splitlines()}
    return {path: next((owners[name] for name in names if name in owners), None) for path, names in candidates.items()}


def exchange_commands(argv):
    """The arguments after `exchange` of each command that `argv` runs: an argument list, or
    `sh -c SCRIPT` whose script chains commands with || && ; (redirections dropped)."""
    words = shlex.split(argv[2]) if list(argv[:2]) in (["sh", "-c"], ["bash", "-c"]) else list(argv)
    commands, current = [], []
    for word in words + [";"]:
        if word in ("||", "&&", ";", "|"):
            commands.append(current)
            current = []
        elif not word.startswith((">", "<", "2>")):
            current.append(word)
    return [command[1:] for command in commands if command and os.path.basename(command[0]) == "exchange"]


@functools.cache
def command_help(binary, words):
    """(options, required options, help text) of `exchange WORDS --help`: the options its
    OPTIONS section lists, and those its USAGE line names outside brackets."""
    text = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, check=True).stdout
    options, in_options = set(), False
    for line in text.splitlines():
        if re.match(r"^[A-Z]+:", line):
            in_options = line.startswith("OPTIONS:")
        option = re.match(r"^  (?:-\w, )?(--[\w-]+)(?:/(--[\w-]+))?", line)
        if in_options and option:
            options.update(filter(None, option.groups()))
    usage = next(line for line in text.splitlines() if line.startswith("USAGE:"))
    required = set(re.findall(r"--[\w-]+", re.sub(r"\[[^\]]*\]", "", usage)))
    return options, required, text


def command_words(arguments):
    """The subcommand path of `exchange ARGUMENTS`: ("matcher",), ("admin", "serve")."""
    return tuple(itertools.takewhile(lambda argument: not argument.startswith("-"), arguments))


def flag_problems(binary, arguments):
    """What `exchange ARGUMENTS` would be refused for: options its --help does not list,
    required ones missing."""
    words = command_words(arguments)
    options, required, _ = command_help(binary, words)
    given = {argument.split("=", 1)[0] for argument in arguments if argument.startswith("--")}
    name = " ".join(["exchange", *words])
    return [f"{name}: no option {option}" for option in sorted(given - options)] + \
        [f"{name}: required {option} missing" for option in sorted(required - given)]


def required_secrets(binary, arguments):
    """The secrets `exchange ARGUMENTS` cannot start without, as its --help (or its parent
    command's: `exchange admin` for `admin serve`) names them."""
    words = command_words(arguments)
    texts = [command_help(binary, words[:length])[2] for length in range(1, len(words) + 1)]
    return {secret for secret in REQUIRED_SECRETS if any(re.search(secret + r"\b", text) for text in texts)}
