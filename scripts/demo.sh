#!/usr/bin/env bash
# The demo: a small region through the whole chain, on the embedded SQLite default, offline, through
# the real CLI, the real HTTP API (`fabcoord serve`) and the Odoo stand-in as a real server.
# Spring 2020: fablabs in Nouvelle-Aquitaine and Pays de la Loire receive material, source more from
# the supplier directories, take orders from three CHU, plan, print (makers), assemble, inspect,
# ship, have a delivery signed for, hand the excess to a partner manufacturer and report the week.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${DEMO_DIR:-demo-output}
rm -rf "$out" && mkdir -p "$out/pdf" && cd "$out"
out=$(pwd)
http() { python "$root/scripts/demo_http.py" "$@"; }
started=$SECONDS
step=0
say() { step=$((step + 1)); printf '\n\033[1m== [%d, %ds] %s\033[0m\n' "$step" $((SECONDS - started)) "$*"; }
note() { printf '\033[2m   %s\033[0m\n' "$*"; }

# Every server this script starts is stopped on exit, whatever happens.
pids=()
stop_servers() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

export FABCOORD_DATABASE_URL="sqlite:///$out/fabcoord.db"
export DEMO_SIM_KEY="sim-$RANDOM-key"
week=$(date +%G-W%V)
in_days() { python -c "import datetime,sys; print(datetime.date.today() + datetime.timedelta(days=int(sys.argv[1])))" "$1"; }

say "Create the ledger (SQLite file $out/fabcoord.db), load the reference data, seed hospital sites"
fabcoord init
fabcoord reference load >/dev/null && note "reference data loaded: regions, 32 CHU/CHR, DIRECCTE, pôles de compétitivité"
fabcoord hospital site seed

say "Register three fablabs (cities from data/cities.csv)"
fabcoord fablab add "Fablab des Usines" --city Poitiers --region "Nouvelle-Aquitaine" --contact fablab@usines.example
fabcoord fablab add "Fablab de Niort" --city Niort --region "Nouvelle-Aquitaine"
fabcoord fablab add "Plateforme C Nantes" --city Nantes --region "Pays de la Loire"

say "The ledger in one scene: receive with lots, share, a refused move, a count, a reversal"
fabcoord stock receive petg 10 --unit kg --to fablab/fablab-des-usines --ref BL-2020-0331 --lot PETG-2020-03-A
fabcoord stock receive petg 5 --unit kg --to fablab/fablab-des-usines --ref BL-2020-0402 --lot PETG-2020-04-B
fabcoord stock receive elastic 200 --unit m --to fablab/fablab-des-usines --ref BL-2020-0401 --lot EL-0401
fabcoord stock move petg 3 --unit kg --from fablab/fablab-des-usines --to fablab/fablab-de-niort --lot PETG-2020-03-A --doc transfer:TR-0405
note "A transfer larger than the stock is refused (expected error below), and nothing changes:"
fabcoord stock move petg 50 --unit kg --from fablab/fablab-de-niort --to fablab/fablab-des-usines --lot PETG-2020-03-A || true
fabcoord stock adjust elastic --at fablab/fablab-des-usines --by -2000 --lot EL-0401 --reason "count: 2 m of elastic torn"
move=$(fabcoord ledger show --doc receipt:BL-2020-0402 --json | python -c 'import json,sys; print(json.load(sys.stdin)[0]["move"])')
fabcoord ledger reverse "$move" --reason "delivery BL-2020-0402 never arrived"
fabcoord stock show

say "Makers printing at home for the fablabs"
fabcoord makers add "Léa (Ligugé)" --fablab fablab-des-usines --declared-per-day 40
fabcoord makers add "Karim (Chasseneuil)" --fablab fablab-des-usines --declared-per-day 30
fabcoord makers add "Inès (Niort)" --fablab fablab-de-niort --declared-per-day 25

say "Import the sample supplier directories (fictitious companies, data/samples/)"
fabcoord suppliers import "$root/data/samples/SAMPLE_direccte_auvergne-rhone-alpes.csv" --source direccte --region "Auvergne-Rhône-Alpes"
fabcoord suppliers import "$root/data/samples/SAMPLE_pole_plastipolis.csv" --source pole --pole Plastipolis

say "Who can supply PET sheets to the Fablab des Usines?"
fabcoord sourcing match pet-sheet-a4 --fablab fablab-des-usines --qty 1000 --unit sheet

say "A purchase order to the first-ranked supplier: created, sent, confirmed, received in two lots"
fabcoord purchase create 00000001800010 --item pet-sheet-a4 --qty 1000 --unit sheet --for fablab-des-usines --price 0.12 --note "demo"
fabcoord purchase send 1
fabcoord purchase confirm 1 --expected "$(in_days 5)"
fabcoord purchase receive 1 --qty 600 --unit sheet --lot PET-OYO-0412
fabcoord purchase receive 1 --qty 400 --unit sheet --lot PET-OYO-0415
fabcoord purchase pdf 1 --out "$out/pdf/purchase-order-1.pdf"

say "Hospitals get secret order links (one per person)"
declare -A token
invite() { # hospital "person <mail>"
    local link
    link=$(fabcoord hospital invite "$1" --for "$2" | grep -o '/h/[A-Za-z0-9_-]*' | head -1)
    token[$1]=${link#/h/}
    note "$1: link issued for $2 (token ${token[$1]:0:6}…)"
}
invite chu-de-poitiers "Claire Martin <claire.martin@chu-poitiers.fr>"
invite chu-de-nantes "Yann Le Goff <yann.legoff@chu-nantes.fr>"
invite chu-de-bordeaux "Sophie Durand <sophie.durand@chu-bordeaux.fr>"

say "Start the web server (fabcoord serve) on 127.0.0.1, on a free port"
port=$(http free-port)
url="http://127.0.0.1:$port"
fabcoord serve --host 127.0.0.1 --port "$port" >"$out/serve.log" 2>&1 &
pids+=($!)
http wait "$url/api/v1/orders"
note "serving $url (log: $out/serve.log)"

say "Three CHU order visors through the JSON API (POST /api/v1/orders with their bearer token)"
ref_poitiers=$(http order "$url" "${token[chu-de-poitiers]}" 120 10 "Réanimation médicale" "2 rue de la Milétrie, 86021 Poitiers")
ref_nantes=$(http order "$url" "${token[chu-de-nantes]}" 60 12 "Urgences" "1 place Alexis-Ricordeau, 44093 Nantes")
ref_bordeaux=$(http order "$url" "${token[chu-de-bordeaux]}" 300 14 "Pneumologie" "Place Amélie Raba-Léon, 33000 Bordeaux")
note "received: $ref_poitiers (Poitiers, 120), $ref_nantes (Nantes, 60), $ref_bordeaux (Bordeaux, 300)"

say "The coordinator accepts them"
for ref in "$ref_poitiers" "$ref_nantes" "$ref_bordeaux"; do fabcoord orders accept "$ref"; done
fabcoord orders list

say "Plan: allocate the orders to fablabs and makers (or-tools), explain one, accept"
fabcoord plan
fabcoord plan explain "$ref_poitiers"
fabcoord plan accept
note "Niort has no PET sheets, so its maker gets nothing; Bordeaux's 300 would be late: a hand-off is recommended."

say "The print farm: three printers on the OctoPrint simulator (time accelerated) print 36 frames for Nantes"
python -m print_farm.simulator --printers 3 --api-key "$DEMO_SIM_KEY" --print-seconds 2 --finishing-seconds 0.3 >"$out/simulator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q READY "$out/simulator.log" && break; sleep 0.2; done
sim_port=$(sed -n 's/^READY .*"ports": \[\([0-9]*\).*/\1/p' "$out/simulator.log")
printf 'G28 ; home\nG1 X10 Y10 F3000\n' >"$out/visor-frame.gcode"
fabcoord designs add "Prusa RC3" --gcode "$out/visor-frame.gcode" --units-per-print 4 --material petg --grams 60 --minutes 90
for n in 0 1 2; do
    fabcoord printers add "Prusa-$n" --fablab fablab-des-usines --url "http://127.0.0.1:$sim_port/p/$n" --api-key-env DEMO_SIM_KEY --auto-clear
    fabcoord printers load "Prusa-$n" --material petg --lot PETG-2020-03-A --grams 1000
done
fabcoord farm enqueue "Prusa RC3" --count 36 --order "$ref_nantes" --fablab fablab-des-usines --needed-by "$(in_days 12)"
fabcoord farm run --no-live >"$out/farm.log" 2>&1 &
farm_pid=$!
pids+=("$farm_pid")
# Wait (≤ 120 s) until no job is queued or printing; a read-only look at the SQLite file is cheaper
# than a CLI call every half second on a loaded machine.
python - "$out/fabcoord.db" <<'PY'
import sqlite3, sys, time
deadline = time.monotonic() + 120
with sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True) as db:
    while time.monotonic() < deadline:
        left = db.execute("SELECT count(*) FROM farm_job WHERE status NOT IN ('done', 'failed', 'cancelled', 'held')").fetchone()[0]
        if left == 0:
            break
        time.sleep(0.5)
PY
kill "$farm_pid" && wait "$farm_pid" || true
tail -1 "$out/farm.log"
fabcoord stock show --json | python -c 'import json,sys; print("   frames now at the Fablab des Usines:", sum(r["qty"] for r in json.load(sys.stdin) if r["item"] == "visor-frame" and r["location"] == "fablab/fablab-des-usines"))'

say "Makers bring the frames they printed at home for the Poitiers and Nantes orders"
fabcoord makers deliver "Léa (Ligugé)" --frames 60 --order "$ref_poitiers"
fabcoord makers deliver "Karim (Chasseneuil)" --frames 60 --order "$ref_poitiers"
fabcoord makers deliver "Karim (Chasseneuil)" --frames 24 --order "$ref_nantes"

say "Assemble a batch of 180 visors (frames + PET sheets + elastic) and inspect it"
batch=$(fabcoord batch assemble --fablab fablab-des-usines --qty 180 --design "Visière Prusa RC3" --json \
    | python -c 'import json,sys; print(json.load(sys.stdin)["number"])')
note "batch $batch assembled"
note "An inspection with a missing cleaning record is refused (expected error below), nothing changes:"
fabcoord batch inspect "$batch" --all-pass || true
cat >"$out/inspection.json" <<JSON
{"inspector": "Marie Dubois (responsable qualité)",
 "results": {"aspect": true, "dimensions": true, "optics": true, "fit": true, "cleaning": true},
 "cleaning_product": "Surfanios Premium", "cleaning_date": "$(date +%F)"}
JSON
fabcoord batch inspect "$batch" --from-file "$out/inspection.json"
fabcoord batch record "$batch" --out "$out/pdf"
fabcoord batch labels "$batch" --out "$out/pdf"
fabcoord batch notice "$batch" --out "$out/pdf"

say "Ship to Poitiers and Nantes (each shipment writes its delivery note)"
shp_poitiers=$(fabcoord ship "$ref_poitiers" --batch "$batch" --qty 120 --carrier Chronopost --out "$out/pdf" --json \
    | python -c 'import json,sys; print(json.load(sys.stdin)["shipment"])')
note "shipment $shp_poitiers: 120 visors for $ref_poitiers"
fabcoord ship "$ref_nantes" --batch "$batch" --qty 60 --carrier "Coursier CHU" --out "$out/pdf"

say "CHU de Poitiers signs for its delivery through the API (POST …/shipments/$shp_poitiers/receipt)"
http receipt "$url" "${token[chu-de-poitiers]}" "$ref_poitiers" "$shp_poitiers" 120 "Dr Claire Martin"

say "Hand Bordeaux's 300 visors to a partner manufacturer on its Odoo (the project's stand-in, Odoo 17)"
odoo_port=$(http free-port)
odoo="http://127.0.0.1:$odoo_port"
export DEMO_PARTNER_KEY="demo-$RANDOM-key"
FABCOORD_STANDIN_API_KEY=$DEMO_PARTNER_KEY python -m suppliers.handoff.standin --port "$odoo_port" --version 17 >"$out/odoo-standin.log" 2>&1 &
pids+=($!)
http wait "$odoo/web/version"
fabcoord partners add "Plastiques de l'Ouest" --odoo-url "$odoo" --database partner --login admin \
    --api-key-env DEMO_PARTNER_KEY --capacity-per-day 500 --minimum-order 50 --lead-time-days 3
fabcoord partners check "Plastiques de l'Ouest"
fabcoord handoff create --partner "Plastiques de l'Ouest" --qty 300 --needed-by "$(in_days 14)" --orders "$ref_bordeaux"
fabcoord handoff send 1
note "the partner delivers 200 visors, then the 100 left (stand-in control endpoint), and we sync each time"
http standin "$odoo" deliver '{"ref": "FABCOORD-HO-1", "quantity": 200}' >/dev/null
fabcoord handoff sync
http standin "$odoo" deliver '{"ref": "FABCOORD-HO-1", "quantity": 100}' >/dev/null
fabcoord handoff sync
fabcoord handoff export 1 --to "$out/pdf"

say "Trace a lot of PET sheets: where it went"
fabcoord trace PET-OYO-0412

say "The weekly report ($week) with its charts"
fabcoord report weekly --week "$week" --out "$out/pdf/weekly-$week.pdf" --charts "$out/charts"
fabcoord ledger check

say "Summary"
fabcoord orders list
printf '\nDocuments (PDF):\n'
find "$out/pdf" -name '*.pdf' | sort | sed 's/^/  /'
printf 'Charts: %s\nDatabase: %s (fabcoord --db sqlite:///%s …)\n' "$out/charts" "$out/fabcoord.db" "$out/fabcoord.db"
printf 'Done in %d s.\n' $((SECONDS - started))
