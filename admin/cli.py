"""`veo-admin`: accounts, keys and credits on the stack's database, and a read-only check of the
upstream (check-upstream). Names and flags are stable.

The commands live beside what they operate on (admin/accounts.py, keys.py, erase.py,
webhooks.py); this module is the table of their names. Changes to keys reach the gateways'
key cache in the Redis of VEO_REDIS_URL, else of the dev stack running on the data dir
(shared/stack_record.py); when that Redis does not answer, the command says so on stderr and
exits with 3 (admin/output.py).
"""

from collections.abc import Callable

import typer

from admin import accounts, erase, keys, limits, login, upstream_check, webhooks
from admin.accounts import create_account_with_key
from admin.keys import issue_key
from admin.output import console
from shared import migrate

__all__ = ["app", "create_account_with_key", "issue_key"]  # issue_key, create_…: for veo-dev

app = typer.Typer(help="Operate the Veo API: accounts, API keys, credits.", no_args_is_help=True)


@app.command("migrate")
def migrate_command() -> None:
    """Create or upgrade the database schema."""
    migrate.upgrade()
    console.print("database is up to date")


COMMANDS: dict[str, Callable[..., None]] = {
    "create-account": accounts.create_account,
    "create-key": keys.create_key,
    "revoke-key": keys.revoke_key,
    "add-credits": accounts.add_credits,
    "list-accounts": accounts.list_accounts,
    "disable-account": accounts.disable_account,
    "enable-account": accounts.enable_account,
    "set-rate-limits": limits.set_rate_limits,
    "delete-account": erase.delete_account,
    "set-webhook": webhooks.set_webhook,
    "show-webhook-secret": webhooks.show_webhook_secret,
    "rotate-webhook-secret": webhooks.rotate_webhook_secret,
    "list-endpoints": webhooks.list_endpoints,
    "enable-endpoint": webhooks.enable_endpoint,
    "login-link": login.login_link,
    "check-upstream": upstream_check.check_upstream,
}
for name, command in COMMANDS.items():
    app.command(name)(command)
