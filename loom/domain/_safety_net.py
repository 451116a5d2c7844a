"""Rules for the network and for package managers (private).

Anything that reaches the network asks; uploading credentials, reverse
shells and remote commands that would be blocked locally are blocked.
Package managers may run the build and test commands they wrap, but
installing, publishing or fetching packages asks.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence

from loom.domain._safety_scan import Call, Rule, parse_opts
from loom.domain._safety_words import Word

__all__ = ["NET_RULES", "first_operand", "network"]

_CURL_VALUED = (
    *("-o", "--output", "-T", "--upload-file", "-d", "--data", "--data-binary"),
    *("--data-raw", "--data-urlencode", "--data-ascii", "--json", "-F", "--form", "-H"),
    *("--header", "-u", "--user", "-X", "--request", "-A", "--user-agent", "-e"),
    *("--referer", "-b", "--cookie", "-c", "--cookie-jar", "-K", "--config", "-x"),
    *("--proxy", "-m", "--max-time", "--connect-timeout", "-w", "--write-out", "-r"),
    *("--range", "-E", "--cert", "--key", "--cacert", "--output-dir", "--retry", "-D"),
    *("--dump-header", "--url", "--resolve", "-Y", "-y", "-z"),
)
_WGET_VALUED = (
    *("-O", "--output-document", "-P", "--directory-prefix", "-o", "--output-file"),
    *("-a", "--append-output", "-i", "--input-file", "--post-file", "--body-file"),
    *("--post-data", "--header", "-U", "--user-agent", "-t", "--tries", "-T"),
    *("--timeout", "-e", "--execute", "-l", "--level", "-Q"),
)
_SSH_VALUED = tuple(f"-{c}" for c in "bcDEeFIiJLlmOopQRSWwB")
_REMOTE = re.compile(r"^([\w.-]+@)?[\w.-]+:(?!//)|^[a-z+]+://")
_LOCALHOST = re.compile(
    r"^(https?://)?(localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\])(:\d+)?(/\S*)?$"
)
_EXEC_ADDRESS = re.compile(r"^(exec|system):", re.I)


def _local_only(call: Call) -> bool:
    """True when every URL names this machine (a dev server under test)."""
    urls = [w.text for w in call.args if not w.text.startswith("-") and "." in w.text]
    urls += [w.text for w in call.args if _LOCALHOST.match(w.text)]
    return bool(urls) and all(_LOCALHOST.match(url) for url in urls)


def network(call: Call, why: str = "reaches the network") -> None:
    """Record network access; credentials on stdin make it exfiltration."""
    call.scan.network.append(call.shown)
    call.ask(why)
    feed = call.feed
    if feed is not None and feed.kind == "secret":
        call.block(f"sends credentials from `{feed.source}` over the network")


def _curl(call: Call) -> None:
    opts = call.opts(_CURL_VALUED)
    if not _local_only(call) or opts.has("-T", "--upload-file", "-F", "--form"):
        network(call)
    for value in opts.values("-o", "--output"):
        _download(call, Word.literal(value))
    for value in opts.values("-c", "--cookie-jar", "-D", "--dump-header"):
        call.scan.write(Word.literal(value), call.shown)
    if opts.has("-O", "--remote-name", "--remote-name-all"):
        for url in opts.operands:
            _download(call, Word.literal(posixpath.basename(url.text) or "index"))
    for url in opts.operands:
        if url.text.startswith("file://"):
            call.scan.secret(Word.literal(url.text[len("file://") :]))


def _wget(call: Call) -> None:
    opts = call.opts(_WGET_VALUED)
    if not _local_only(call):
        network(call)
    documents = [v for v in opts.values("-O", "--output-document") if v != "-"]
    for value in documents:
        _download(call, Word.literal(value))
    prefix = next(iter(opts.values("-P", "--directory-prefix")), ".")
    if not documents and not opts.values("-O", "--output-document"):
        for url in opts.operands:
            name = posixpath.basename(url.text.split("?")[0]) or "index.html"
            _download(call, Word.literal(f"{prefix}/{name}"))
    for value in opts.values("-o", "--output-file", "-a", "--append-output"):
        call.scan.write(Word.literal(value), call.shown)


def _download(call: Call, target: Word) -> None:
    call.scan.write(target, call.shown)
    path = call.scan.place(target).path
    if path is not None:
        call.scan.downloads.add(path)


def _netcat(call: Call) -> None:
    opts = call.opts(("-e", "-c", "--exec", "--sh-exec", "--lua-exec", "-p", "-s"))
    if opts.has("-e", "-c", "--exec", "--sh-exec", "--lua-exec"):
        call.block("connects a shell to the network (reverse or bind shell)")
    network(call, "opens a raw network connection")


def _socat(call: Call) -> None:
    if any(_EXEC_ADDRESS.match(word.text) for word in call.args):
        call.block("connects a program to the network (reverse or bind shell)")
    network(call, "opens a raw network connection")


def _ssh(call: Call) -> None:
    opts = parse_opts(call.args, frozenset(_SSH_VALUED), permute=False)
    for option in opts.values("-o"):
        key, _, value = (
            option.partition("=") if "=" in option else option.partition(" ")
        )
        if key.lower() in ("proxycommand", "localcommand", "knownhostscommand"):
            call.ask("runs a local command through ssh options")
            call.script(value)
    if opts.has("-R", "-L", "-D", "-w"):
        call.ask("opens a network tunnel")
    network(call, "connects to a remote host")
    remote = opts.operands[1:]
    if remote:
        call.script(" ".join(word.text for word in remote))


def _copy_remote(call: Call) -> None:
    """scp and rsync: remote ends reach the network, local ends are files."""
    valued = (*_SSH_VALUED, "-e", "--rsh", "--exclude", "--include", "-f", "--filter")
    opts = call.opts((*valued, "--exclude-from", "--files-from", "--log-file", "-T"))
    operands = opts.operands
    for shell in opts.values("-e", "--rsh"):
        call.script(shell)
    remote = [word for word in operands if _REMOTE.match(word.text)]
    if remote or call.name in ("scp", "sftp"):
        network(call, "copies files over the network")
    if len(operands) < 2:
        return
    target = operands[-1]
    if not _REMOTE.match(target.text):
        call.scan.write(target, call.shown)
        if any(flag.startswith("--delete") for flag in opts.flags):
            call.scan.delete(_contents(target), call.shown)
    if opts.has("--remove-source-files"):
        for word in operands[:-1]:
            call.scan.delete(word, call.shown)


def _contents(word: Word) -> Word:
    text = word.text.rstrip("/") + "/*"
    return Word(text=text, raw=word.raw, glob=True, head=text[:-1])


def first_operand(args: Sequence[Word]) -> tuple[str, list[Word]]:
    for index, word in enumerate(args):
        if not word.text.startswith(("-", "+")):
            return word.text, list(args[index + 1 :])
    return "", []


def _openssl(call: Call) -> None:
    sub, _ = first_operand(call.args)
    if sub in ("s_client", "s_server", "s_time", "ocsp"):
        network(call, "opens a TLS connection")
    elif sub not in _OPENSSL_LOCAL:
        call.ask(f"runs `openssl {sub}`")


def _gpg(call: Call) -> None:
    if any(word.text.startswith("--export-secret") for word in call.args):
        call.scan.secrets.append(call.shown)
        call.ask("exports secret keys")
    else:
        call.ask("uses GnuPG keys")


_OPENSSL_LOCAL = frozenset(
    {"version", "rand", "dgst", "x509", "base64", "enc", "sha256", "sha1", "md5"}
    | {"list", "help", "verify", "req", "genrsa", "genpkey", "rsa", "pkey"}
)


NET_RULES: dict[str, Rule] = {
    "curl": _curl,
    "wget": _wget,
    **dict.fromkeys(("fetch", "aria2c", "http", "https", "xh", "lwp-request"), network),
    **dict.fromkeys(("nc", "ncat", "netcat"), _netcat),
    "socat": _socat,
    **dict.fromkeys(("telnet", "ftp", "tftp", "lftp", "ping", "dig"), network),
    **dict.fromkeys(
        ("nslookup", "host", "traceroute", "whois", "mtr", "nmap"), network
    ),
    "ssh": _ssh,
    "scp": _copy_remote,
    "sftp": _copy_remote,
    "rsync": _copy_remote,
    "openssl": _openssl,
    "gpg": _gpg,
    "gpg2": _gpg,
}
