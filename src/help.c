/*
 * Help texts. Each command's text is its usage line followed by its
 * options; the man page facteur(1) is the long form of the same.
 */
#include <stdio.h>
#include <string.h>

#include "help.h"

struct help {
	const char	*name;
	const char	*summary;
	const char	*text;
};

static const struct help helps[] = {
	{ "run", "work every account (watch, or one pass with --once)",
	"usage: facteur run [-c CONFIG] [--once] [--log text|json] [--syslog] "
	"[-v]\n"
	"\n"
	"Work every account of the config: fetch new mail, run it through the\n"
	"rules, carry out the actions, and keep watching (IMAP IDLE or\n"
	"polling) until SIGTERM or SIGINT, which let the message in progress\n"
	"finish.\n"
	"\n"
	"  -c, --config CONFIG   the config file (default: $FACTEUR_CONFIG,\n"
	"                        else config/facteur.yaml)\n"
	"      --once            one pass over each account, then exit: 0 when\n"
	"                        every account was reached, 75 when one was not\n"
	"      --log text|json   log lines for people (default) or for machines\n"
	"      --syslog          log to syslog\n"
	"  -v, --verbose         debug logging\n" },
	{ "check", "validate the config and rule files",
	"usage: facteur check [-c CONFIG] [-r RULES]...\n"
	"\n"
	"Validate the config and every rule file its accounts name, and the\n"
	"rule files given with -r. Every error is reported as\n"
	"FILE:LINE:COL: message; the exit code is 78 when there is one. With\n"
	"only -r, the config is not read.\n"
	"\n"
	"  -c, --config CONFIG   the config file (default: $FACTEUR_CONFIG,\n"
	"                        else config/facteur.yaml)\n"
	"  -r, --rules RULES     a rule file to check (repeatable; the files\n"
	"                        are loaded together, as one account's rules)\n" },
	{ "test", "dry run: the plan for each message, and why",
	"usage: facteur test [-r RULES]... [-c CONFIG -a ACCOUNT] [--json] "
	"MSG...\n"
	"       facteur test [-r RULES]... --expect EXPECT.yaml\n"
	"\n"
	"Run each message through the rules exactly as the agent would and\n"
	"print the plan: which rules matched, why, and every action with its\n"
	"templates rendered. Nothing touches the network or the state. \"-\"\n"
	"reads a message from stdin.\n"
	"\n"
	"  -r, --rules RULES     a rule file (repeatable, in order)\n"
	"  -c, --config CONFIG   take the rules of an account of this config\n"
	"  -a, --account NAME    that account (with -c); also what {{account}}\n"
	"                        renders\n"
	"      --json            one JSON object per message\n"
	"      --expect FILE     check the messages an expect file lists against\n"
	"                        what they must produce; one TAP line each, exit 1\n"
	"                        on any difference\n" },
	{ "parse", "the decoded view of messages",
	"usage: facteur parse [--json] MSG...\n"
	"\n"
	"Print each message as the rules see it: decoded headers, addresses,\n"
	"text (HTML turned to text) and attachments. \"-\" reads stdin. A file\n"
	"that cannot be read is reported and skipped, and the exit code says so.\n"
	"\n"
	"      --json            one JSON object per message, one a line\n" },
	{ "deliver", "one message on stdin, as an MTA's delivery agent",
	"usage: facteur deliver [-c CONFIG] -a ACCOUNT < MESSAGE\n"
	"\n"
	"Process one message read from stdin under ACCOUNT, as an MTA's\n"
	"delivery agent (an Exim pipe transport, Postfix's mailbox_command, a\n"
	".forward pipe). Exit 0 when the message is finished, 75 when an\n"
	"action is still pending or the journal cannot be written, so that the\n"
	"MTA keeps the message and tries again; the retry resumes only what is\n"
	"pending.\n"
	"\n"
	"  -c, --config CONFIG   the config file (default: $FACTEUR_CONFIG,\n"
	"                        else config/facteur.yaml)\n"
	"  -a, --account NAME    the account whose rules apply\n"
	"      --log text|json   log lines for people (default) or for machines\n"
	"      --syslog          log to syslog\n"
	"  -v, --verbose         debug logging\n" },
	{ "state", "what was processed, pending and failed; retry, forget",
	"usage: facteur state [-c CONFIG] [--json] [list|pending|failed|accounts]\n"
	"           [--account NAME] [--limit N]\n"
	"       facteur state [-c CONFIG] [--json] show ID\n"
	"       facteur state [-c CONFIG] retry ID|--all [--account NAME]\n"
	"       facteur state [-c CONFIG] forget ID|--account NAME "
	"[--mailbox MBOX] --yes\n"
	"\n"
	"Read the journal of the config's state file.\n"
	"\n"
	"  list                  the messages processed recently (the default)\n"
	"  pending               the messages with actions still to do\n"
	"  failed                the actions that failed, with their reason\n"
	"  accounts              each account's last successful pass\n"
	"  show ID               one message: its plan and each action's state\n"
	"  retry ID              make its failed or pending actions due now\n"
	"  retry --all           every failed or pending action due now (after\n"
	"                        an outage), or only --account's\n"
	"  forget ID             drop entries from the journal, so the mail is\n"
	"                        processed again\n"
	"\n"
	"  -c, --config CONFIG   the config file (default: $FACTEUR_CONFIG,\n"
	"                        else config/facteur.yaml)\n"
	"      --account NAME    only this account\n"
	"      --mailbox MBOX    only this mailbox (forget)\n"
	"      --limit N         at most N lines (list)\n"
	"      --yes             confirm a forget\n"
	"      --json            JSON output\n" },
};

#define NHELPS	(sizeof helps / sizeof helps[0])

void
help_overview(FILE *f)
{
	size_t	 i;

	fputs("usage: facteur COMMAND [ARGS]\n"
	    "       facteur help COMMAND | facteur COMMAND --help\n"
	    "       facteur --version | --help\n\ncommands:\n", f);
	for (i = 0; i < NHELPS; i++)
		fprintf(f, "  %-9s%s\n", helps[i].name, helps[i].summary);
	fputs("\nexit codes: 0 ok, 1 a difference (test --expect), 64 usage,\n"
	    "65 bad message data, 66 no input, 70 internal error, 74 i/o error,\n"
	    "75 temporary failure (try again), 78 bad configuration.\n"
	    "\nSee facteur(1) and facteur.yaml(5).\n", f);
}

int
help_command(FILE *f, const char *name)
{
	size_t	 i;

	if (strcmp(name, "help") == 0) {
		fputs("usage: facteur help [COMMAND]\n", f);
		return 0;
	}
	for (i = 0; i < NHELPS; i++) {
		if (strcmp(helps[i].name, name) == 0) {
			fputs(helps[i].text, f);
			return 0;
		}
	}
	return -1;
}
