#!/usr/bin/env bash
# The demo: a small, real scenario on the embedded SQLite default, through the real CLI.
# Two fablabs in Nouvelle-Aquitaine receive raw material in spring 2020, share filament, count
# their stock, correct a wrong receipt, and the ledger shows every movement and the balances.
set -euo pipefail
out=${DEMO_DIR:-demo-output}
rm -rf "$out" && mkdir -p "$out" && cd "$out"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Create the ledger (SQLite file fabcoord.db in $out/)"
fabcoord init
fabcoord reference load

say "Register two fablabs"
fabcoord fablab add "Fablab des Usines" --city Ligugé --region "Nouvelle-Aquitaine" --contact fablab@usines.example
fabcoord fablab add "Fablab de Poitiers" --city Poitiers --region "Nouvelle-Aquitaine"

say "Receive raw material with lot numbers (delivery notes BL-...)"
fabcoord stock receive petg 10 --unit kg --to fablab/fablab-des-usines --ref BL-2020-0331 --lot PETG-2020-03-A
fabcoord stock receive petg 5 --unit kg --to fablab/fablab-des-usines --ref BL-2020-0402 --lot PETG-2020-04-B
fabcoord stock receive pet-sheet-a4 500 --to fablab/fablab-des-usines --ref BL-2020-0401 --lot PET-200-0401
fabcoord stock receive elastic 100 --unit m --to fablab/fablab-des-usines --ref BL-2020-0401 --lot EL-0401

say "Share 3 kg of filament with the Poitiers fablab, which has run out"
fabcoord stock move petg 3 --unit kg --from fablab/fablab-des-usines --to fablab/fablab-de-poitiers --lot PETG-2020-03-A --doc transfer:TR-0405

say "A transfer larger than the stock is refused, and nothing changes"
fabcoord stock move petg 50 --unit kg --from fablab/fablab-de-poitiers --to fablab/fablab-des-usines --lot PETG-2020-03-A || true

say "Weekly count: 12 sheets were damaged"
fabcoord stock adjust pet-sheet-a4 --at fablab/fablab-des-usines --by -12 --lot PET-200-0401 --reason "count 2020-04-06: damaged sheets"

say "The second PETG receipt was entered by mistake: reverse it (the ledger keeps both)"
move=$(fabcoord ledger show --doc receipt:BL-2020-0402 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["move"])')
fabcoord ledger reverse "$move" --reason "delivery BL-2020-0402 never arrived"

say "Ledger"
fabcoord ledger show
say "Balances now"
fabcoord stock show
say "The balance cache agrees with the moves"
fabcoord ledger check
