"""Every bound gencredits keeps, in one place, each with the reason for its value.

A limit on everything (TigerBeetle's habit): a request, a page, a batch, a hold's life. The
numbers are generous for real use and small enough that no single call can make the service
do unbounded work.
"""

from __future__ import annotations

# A quote or charge with more lines than a person could read is a bug or an attack.
MAX_LINES_PER_REQUEST = 50

# How many identical requests one line may stand for (``count``); 10,000 covers a large
# project estimate and keeps totals far below 2**63.
MAX_COUNT_PER_LINE = 10_000

# An editing tool's batch operation over many images (SPEC section 4).
MAX_EDIT_BATCH_ITEMS = 500

# Longest video any rule may price, whatever the catalog says (a typo guard).
MAX_VIDEO_SECONDS = 600

# Highest credits a single catalog rate may have; keeps every product well inside int64.
MAX_RATE_CREDITS = 100_000

# Largest single credit amount accepted anywhere (grant, adjustment, capture): 2**53 keeps
# JSON clients that parse numbers as doubles exact.
MAX_AMOUNT_CREDITS = 2**53 - 1

# The most credits one account may hold (available + held, so also the sum of its live
# grants and its held credits): the same 2**53 - 1, so every balance, running balance and
# amount a JSON client reads is exact, and the cached balances (BIGINT on PostgreSQL, int64
# on SQLite) never overflow however many grants an account receives.
MAX_BALANCE_CREDITS = 2**53 - 1

# A quote is honoured for this long after it was made.
QUOTE_VALIDITY_SECONDS = 15 * 60

# Holds left unsettled are released after this (SPEC: default 15 minutes).
DEFAULT_HOLD_TTL_SECONDS = 15 * 60
MAX_HOLD_TTL_SECONDS = 24 * 60 * 60

# Idempotency keys are kept at least 24 hours (SPEC); we keep them 7 days.
IDEMPOTENCY_KEY_RETENTION_SECONDS = 7 * 24 * 60 * 60
MAX_IDEMPOTENCY_KEY_LENGTH = 200

# Pages of history and lists.
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

# Identifiers and labels people type.
MAX_ID_LENGTH = 64
MAX_LABEL_LENGTH = 120

# An account is "low" below this share of its cycle allowance (a low_balance event fires once
# as it crosses): 10% of Pro's 1,000 is 100 credits, about twenty standard images.
LOW_BALANCE_PERCENT = 10

# Open (pending) holds one account may have at once: a runaway pipeline cannot lock up a
# balance in thousands of tiny reservations.
MAX_OPEN_HOLDS = 1_000

# Group commit (service/group_commit.py) and charge_many.
# The most charges one transaction applies. A batch holds the write lock (SQLite) or its
# accounts' row locks (PostgreSQL) while it runs; 1,000 charges take well under a tenth of a
# second, long enough to amortize the fsync completely and short enough not to starve others.
MAX_BATCH_ITEMS = 1_000
# How long the writer waits for more charges after the first arrives. Callers that are waiting
# for an fsync queue up by themselves; the window only gathers stragglers, so it is short
# (1 ms carried 25-30% more than none with 16 callers on PostgreSQL, benchmarks/RESULTS.md).
DEFAULT_GROUP_COMMIT_WINDOW_SECONDS = 0.001
MAX_GROUP_COMMIT_WINDOW_SECONDS = 0.1
# Writer threads (and so connections) one committer may keep busy; past a few per core they
# only add contention.
MAX_GROUP_COMMIT_WRITERS = 16

# --- bounds on input values (SPEC section 7), checked by domain/bounds.py ---------------------
# Times: from the Unix epoch (nothing gencredits records predates it) to the start of 9999,
# after the offset is applied. The year of headroom below datetime.max lets the arithmetic the
# product does on a time it was given (the end of a day asked for, a cycle or a window after it)
# stay inside datetime's range instead of raising OverflowError.
EARLIEST_MOMENT_ISO = "1970-01-01T00:00:00+00:00"
LATEST_MOMENT_ISO = "9999-01-01T00:00:00+00:00"

# Decimals (rates, multipliers, percentages, money): a price needs a few digits either side of
# the point, never thousands. 24 significant digits and 12 places keep exact arithmetic cheap and
# every value printable; an adjusted exponent of at most 15 (below 10**16) is far above any
# price or cost, so "1e999999" is refused at the edge instead of breaking every page after it.
MAX_DECIMAL_SIGNIFICANT_DIGITS = 24
MAX_DECIMAL_PLACES = 12
MAX_DECIMAL_ADJUSTED_EXPONENT = 15

# Money in the operator's currency (a provider's cost per generation): a million a request is
# beyond any real price and keeps products with credit counts inside Decimal's exact range.
MAX_MONEY = 1_000_000
