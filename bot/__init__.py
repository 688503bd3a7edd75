"""phototalk's Telegram edge: handlers, replies, commands, i18n, webhook, and the delivering worker."""
