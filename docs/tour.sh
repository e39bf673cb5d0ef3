#!/usr/bin/env bash
# The README's short tour as a script: `bash docs/tour.sh` (API= points it at another server).
# Each run creates its own project, so it can run again and again against the same library.
set -euo pipefail

API=${API:-http://127.0.0.1:8000/api/v1}
j() {  # j FIELD...: that field of the JSON on stdin (a string bare, anything else as JSON)
  python3 -c '
import json, sys
doc = value = json.load(sys.stdin)
try:
    for part in sys.argv[1:]:
        value = value[int(part)] if isinstance(value, list) else value[part]
except (KeyError, IndexError, TypeError, ValueError):
    sys.exit("no %s in %s" % ("/".join(sys.argv[1:]), json.dumps(doc, ensure_ascii=False)))
print(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))' "$@"
}
auth() { echo "Authorization: Bearer $1"; }
JSON='content-type: application/json'
RUN=$(date +%Y%m%d%H%M%S)-$RANDOM   # this run's external_ref and Idempotency-Key

ADMIN=$(climatelib keys create --role admin --name "ops team")
REGION=$(curl -s -X POST $API/api-keys -H "$(auth $ADMIN)" -H "$JSON" \
  -d '{"name": "Futian pilot office", "role": "region", "scope": "440304"}' | j key)
REVIEWER=$(curl -s -X POST $API/api-keys -H "$(auth $ADMIN)" -H "$JSON" \
  -d '{"name": "Guangdong reviewer", "role": "reviewer", "scope": "44"}' | j key)

# 1. the region pushes a draft project (money as decimal strings), then submits it
P=$(curl -s -X POST $API/projects -H "$(auth $REGION)" -H "$JSON" -H "Idempotency-Key: futian-$RUN" -d '{
  "external_ref": "FT-'$RUN'", "name": "福田区公共建筑屋顶分布式光伏",
  "summary": "在区属公共建筑屋顶建设 12 MW 分布式光伏。", "region_code": "440304",
  "owner": {"name": "深圳市福田区能源投资有限公司", "uscc": "9144030071526726XG", "type": "state_owned"},
  "objective": "mitigation", "categories": ["M2"], "industry_code": "D4416", "nature": "new_build",
  "construction_status": "approved", "start_date": "2027-01-01", "end_date": "2028-06-30",
  "total_investment": "60000000.00", "financing_need": "40000000.00", "financing_secured": "0.00",
  "financing_types": ["loan"], "tenor_months": 120, "annual_emission_reduction_tco2e": 9800,
  "third_party_verified": true, "verifier": "中国质量认证中心",
  "contact": {"name": "李明", "phone": "0755-00000000", "email": "li@example.cn"}}' | j id)
step() {  # step KEY ACTION [REASON]: a lifecycle transition with the current ETag
  ETAG=$(curl -s -D - -o /dev/null $API/projects/$P -H "$(auth $1)" | tr -d '\r' | sed -n 's/^etag: //Ip')
  curl -s -X POST $API/projects/$P/transitions -H "$(auth $1)" -H "$JSON" -H "If-Match: $ETAG" \
    -d "{\"action\": \"$2\"${3:+, \"reason\": \"$3\"}}" | j status
}
step $REGION submit; step $REVIEWER recommend; step $ADMIN approve
curl -s $API/projects/$P | j library_code            # CIF-440304-<year>-<next number>, public now
curl -s $API/projects/$P/history -H "$(auth $REGION)" | j items -1 action

# 2. a bank (created on the first run, found by name after) publishes a product and sees the project rank
BANK_ID=$(curl -s -G $API/institutions --data-urlencode "q=某某银行深圳分行" | j items 0 id 2>/dev/null) ||
  BANK_ID=$(curl -s -X POST $API/institutions -H "$(auth $ADMIN)" -H "$JSON" \
    -d '{"name": "某某银行深圳分行", "uscc": "91350100M000100Y43", "type": "bank"}' | j id)
BANK=$(climatelib keys create --role institution --scope $BANK_ID --name "bank desk")
LOAN=$(curl -s -X POST $API/products -H "$(auth $BANK)" -H "$JSON" -d '{
  "name": "光伏贷 '$RUN'", "type": "green_loan", "status": "active", "categories": ["M2"],
  "region_prefixes": ["44"], "amount_min": "1000000.00", "amount_max": "80000000.00",
  "rate_min": "3.10", "rate_max": "3.80", "quota_total": "500000000.00"}' | j id)
curl -s "$API/products/$LOAN/matches" -H "$(auth $BANK)" | j items 0 score
curl -s "$API/matches/explain?project_id=$P&product_id=$LOAN" -H "$(auth $BANK)" | j explanation 0

# 3. the bank offers, the region accepts, the bank records financing
E=$(curl -s -X POST $API/engagements -H "$(auth $BANK)" -H "$JSON" -d "{
  \"project_id\": \"$P\", \"product_id\": \"$LOAN\", \"amount\": \"30000000.00\",
  \"annual_rate\": \"3.30\", \"tenor_months\": 120, \"message\": \"十年期光伏贷\"}" | j id)
curl -s -X POST $API/engagements/$E/transitions -H "$(auth $REGION)" -H "$JSON" -d '{"action": "accept"}' | j contact_deadline
curl -s -X POST $API/engagements/$E/transitions -H "$(auth $BANK)" -H "$JSON" -d '{"action": "contact"}' | j status
curl -s -X POST $API/engagements/$E/transitions -H "$(auth $BANK)" -H "$JSON" \
  -d '{"action": "financed", "amount": "30000000.00", "annual_rate": "3.25", "date": "2026-11-26"}' | j status
curl -s $API/projects/$P | j financing_secured        # 30000000.00

# 4. what the public sees
curl -s "$API/stats/overview" | j offers
curl -s "$API/pilots?province=44" | j items 0 name
