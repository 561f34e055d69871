"""Hand-written corpus cases: shapes the generator does not produce (a check against tuning to it).

Run: ``python tests/redact/corpus/handwritten.py`` (rewrites ``handwritten.jsonl`` beside it).
Personal data is marked ``[[like this]]``; a case without a mark is benign (nothing may change).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

OUT = Path(__file__).resolve().parent / "handwritten.jsonl"

# (kind, field, marked text)
CASES: list[tuple[str, str, str]] = [
    # person names
    ("person_name", "feedback", "Thanks a lot!\n\n— [[Siobhán Ní Bhriain]]"),
    ("person_name", "feedback", "hello, Mr [[O'Connor]], the sync is broken"),
    ("person_name", "message", "Assigned to: [[Priya Raghunathan]] (QA)"),
    ("person_name", "message", "Reported-by: [[Tomasz Wiśniewski]]"),
    ("person_name", "message", "ticket #4411 reassigned to [[Kwame Mensah]] by [[Adaeze Okafor]]"),
    ("person_name", "feedback", "Hi Dr. [[Nakamura]], the app froze twice"),
    ("person_name", "feedback", "Best,\n[[Zainab]]"),
    ("person_name", "feedback", "Cheers — [[Mateus]]"),
    ("person_name", "feedback", "Dear Ms. [[Nguyễn Thị Minh]], the upload stalls"),
    ("person_name", "feedback", "My name is [[Aleksandr Petrov]] and I cannot log in since Monday"),
    ("person_name", "breadcrumb", "Logged in as [[Fatima Al-Sayed]]"),
    ("person_name", "message", "Attn: [[Hendrik van der Merwe]]"),
    ("person_name", "message", "customer [[Jean-Baptiste Lefèvre]] called twice"),
    ("person_name", "breadcrumb", "Welcome back, [[Björn]]!"),
    ("person_name", "message", "review reported by [[佐藤 花子]]"),
    ("person_name", "feedback", "Здравствуйте, [[Ольга Сергеевна]]! Приложение падает."),
    ("person_name", "message", "From: [[Carlos Eduardo Souza]]"),
    ("person_name", "message", "approval pending for manager [[Grace O'Malley]]"),
    ("person_name", "local", "{'display_name': '[[DJ Khaled]]', 'id': 7}"),
    ("person_name", "feedback", "[[Jennifer]] and I tried again, same crash"),
    ("person_name", "local", "author = \"[[Ngozi Adichie]]\""),
    ("person_name", "feedback", "Kind regards\n[[Li Wei]]\nHead of Ops"),
    # person-name look-alikes
    ("name_lookalike", "feedback", "Hi team, the build is broken again"),
    ("name_lookalike", "message", "ValueError: Invalid Token Format"),
    ("name_lookalike", "message", "Max Retries Exceeded with url: /api/v1/items"),
    ("name_lookalike", "breadcrumb", "Will Retry in 5s"),
    ("name_lookalike", "message", "HTTPError: 500 Internal Server Error"),
    ("name_lookalike", "feedback", "Hello World example crashes"),
    ("name_lookalike", "message", "Dear Customer, your session expired"),
    ("name_lookalike", "message", "Page Not Found"),
    ("name_lookalike", "message", "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed"),
    ("name_lookalike", "message", "TypeError: Object of type DateTime is not JSON serializable"),
    ("name_lookalike", "breadcrumb", "Opened Settings > Privacy > Location Services"),
    ("name_lookalike", "message", "Grant Access Denied for role Viewer"),
    ("name_lookalike", "breadcrumb", "Clicked Save Changes"),
    ("name_lookalike", "message", "RuntimeError: Event loop is closed"),
    ("name_lookalike", "feedback", "Thanks, the app works again"),
    ("name_lookalike", "message", "  File \"/app/views.py\", line 12, in get\n    return Response(status=204)"),
    ("name_lookalike", "message", "Mark Read failed for Inbox"),
    ("name_lookalike", "message", "Apple Pay Session Error"),
    # street addresses
    ("street_address", "feedback", "ship it to [[1600 Pennsylvania Ave NW]], Washington, DC [[20500]]"),
    ("street_address", "message", "geocode failed: [[221B Baker Street]], London [[NW1 6XE]]"),
    ("street_address", "feedback", "I moved to [[Kurfürstendamm 21]], [[10719]] Berlin"),
    ("street_address", "local", "addr = '[[12, rue de la Paix]], [[75002]] Paris'"),
    ("street_address", "feedback", "Adresse: [[Rue du Marché 3]], [[1204]] Genève"),
    ("street_address", "message", "no route to [[Calle de Alcalá 48]], [[28014]] Madrid"),
    ("street_address", "local", "'line1': '[[Via Giuseppe Verdi, 7]]'"),
    ("street_address", "feedback", "deliver to [[Prinsengracht 263-267]], Amsterdam"),
    ("street_address", "db_error", "DETAIL: Key (street)=([[Drottninggatan 53]]) already exists."),
    ("street_address", "feedback", "[[ul. Marszałkowska 104/122]], [[00-017]] Warszawa"),
    ("street_address", "message", "address [[Rua Augusta, 1500]] not deliverable"),
    ("street_address", "feedback", "My address: [[742 Evergreen Terrace]], Springfield"),
    ("street_address", "local", "shipping='[[Unit 5, 42 Wallaby Way]], Sydney NSW [[2000]]'"),
    ("street_address", "feedback", "send to [[4 Privet Drive]], Little Whinging"),
    ("street_address", "message", "AddressError: [[10 Downing St]] is not a residential address"),
    ("street_address", "feedback", "Lieferadresse [[Hauptstr. 5a]], [[80331]] München"),
    ("street_address", "feedback", "我住在 [[Nørregade 14]], [[1165]] København"),
    ("street_address", "message", "invalid postcode for [[350 Fifth Avenue]], New York, NY [[10118]]"),
    ("street_address", "feedback", "[[Flat 3, 18 Kensington Gardens]], London [[W2 3HN]]"),
    ("street_address", "local", "{'street': '[[Mannerheimintie 12]]', 'city': 'Helsinki'}"),
    # address look-alikes
    ("address_lookalike", "message", "  File \"/app/main.py\", line 42, in handler"),
    ("address_lookalike", "message", "found 2 Open Ports on scan"),
    ("address_lookalike", "message", "HTTP/1.1 404 Not Found"),
    ("address_lookalike", "message", "retrying 3 times after 5 Seconds"),
    ("address_lookalike", "breadcrumb", "Moved 12 Items to Archive"),
    ("address_lookalike", "message", "TypeError: unsupported operand type(s) for +: 'int' and 'str'"),
    ("address_lookalike", "message", "Python 3 Way Merge failed"),
    ("address_lookalike", "message", "see section 4 Drive Letters in the manual"),
    ("address_lookalike", "breadcrumb", "GET /api/v2/streets/17 -> 200"),
    ("address_lookalike", "message", "expected 1 Street Type, got 2"),
    ("address_lookalike", "message", "Vue Router 4 Route Guards"),
    ("address_lookalike", "message", "Step 2 Lane Change detected"),
    ("address_lookalike", "message", "String 12 is out of range"),
    ("address_lookalike", "message", "via proxy 3 hops"),
    ("address_lookalike", "message", "Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>"),
    ("address_lookalike", "message", "Level 7 Boss Defeated"),
    # UNC and Windows user folders
    ("unc_path", "path", "\\\\corp-fs01\\Home$\\[[m.tanaka]]\\Desktop\\export.csv"),
    ("unc_path", "message", "Access denied: \\\\nas\\data\\users\\[[Eva Novák]]\\report.docx"),
    ("unc_path", "path", "\\\\fs.example.local\\RoamingProfiles\\[[jdoe]].V2\\NTUSER.DAT"),
    ("unc_path", "message", "copy to '\\\\\\\\srv\\\\homes\\\\[[kowalski.p]]\\\\backup.zip' failed"),
    ("unc_path", "path", "\\\\dfs\\FolderRedirection\\[[Sanjay Patel]]\\Documents\\app.log"),
    ("windows_user_folder", "path", "C:\\Users\\[[Anne-Marie O'Neil]]\\AppData\\Local\\app\\crash.dmp"),
    ("windows_user_folder", "message", "PermissionError: [WinError 32] 'c:\\users\\[[José Álvarez]]\\Desktop\\a.xlsx'"),
    ("windows_user_folder", "env", "D:\\Users\\[[Chen Jing (Admin)]]"),
    ("windows_user_folder", "message", "OSError: 'C:/Users/[[van der Berg, Pieter]]/OneDrive/report.pdf'"),
    # env dumps and process listings
    ("env_user", "local", "{'SHELL': '/bin/zsh', 'LOGNAME': '[[aoife]]', 'USER': '[[aoife]]'}"),
    ("env_user", "message", "sudo: SUDO_USER=[[mweber]] SUDO_UID=1000"),
    ("env_user", "message", "USER\t[[hkim]]\nHOME\t/home/[[hkim]]"),
    ("env_user", "message", "[[rsingh]]      4242  98.0  3.1 812345 64000 ?  Rl  09:12  12:01 python train.py"),
    ("env_user", "message", "uid=1001([[lucia]]) gid=1001([[lucia]]) groups=1001([[lucia]]),4(adm),27(sudo)"),
    ("env_user", "message", "You have new mail in /var/mail/[[tobias]]"),
    ("env_user", "message", "worker started as user [[ines.ferreira]]"),
    ("env_value", "local", "USER=root\nLOGNAME=root\nHOME=/root\nMAIL=/var/mail/root"),
    ("env_value", "message", "running as user www-data"),
    ("env_value", "local", "USERNAME=$USER\nLOGNAME=${LOGNAME}"),
    ("env_value", "local", "root         1  0.0  0.1 168000 11000 ?  Ss   08:00   0:02 /sbin/init"),
    ("env_value", "message", "uid=0(root) gid=0(root) groups=0(root)"),
    # national ids without separators
    ("national_id", "message", "Steuer-ID [[65929970489]] stimmt nicht"),
    ("national_id", "breadcrumb", "BSN: [[111222333]] verified"),
    ("national_id", "message", "social_security_number=[[078051120]]"),
    ("national_id", "message", "personnummer [[8112189876]] saknas"),
    ("national_id", "local", "aadhaar_no = '[[499118665246]]'"),
    ("national_id", "message", "身份证号码：[[11010519491231002X]]"),
    ("national_id", "message", "PESEL [[44051401359]] invalid"),
    ("national_id", "message", "NIR [[185057800608436]] inconnu"),
    ("national_id", "message", "national insurance number [[QQ123456C]] not found"),
    ("national_id", "message", "KYC: [[499118665246]] did not match"),
    ("national_id", "message", "CPR-nr. [[0707614285]]"),
    # device names
    ("device_hostname", "message", "AirDrop from [[Amara's]] iPhone declined"),
    ("device_hostname", "env", "[[DESKTOP-SKOWALSKI]]"),
    ("device_hostname", "message", "synced with [[kenjis-macbook-air.local]]"),
    ("device_hostname", "message", "mDNS: [[Sofias-iPad.local]] appeared"),
    ("device_hostname", "message", "host [[LAPTOP-ABDUL-R]] is offline"),
    # benign look-alikes of the other families
    ("memory_address", "message", "<bound method Worker.run of <app.Worker object at 0x000001F2A3B4C5D0>>"),
    ("errno", "message", "OSError: [Errno 24] Too many open files: '/proc/self/fd'"),
    ("commit_sha", "message", "pip install git+https://github.com/org/repo@4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
    ("commit_sha", "breadcrumb", "deployed revision=8f3c2a1d9e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"),
    ("sql_template", "db_error", "UPDATE users SET name = %(name)s, email = %(email)s WHERE users.id = %(id_1)s"),
    ("http_status", "breadcrumb", "POST /v1/events 413 Payload Too Large"),
    ("service_host", "message",
     "redis.exceptions.ConnectionError: Error 111 connecting to cache.prod.svc.cluster.local:6379."),
]


def parse(marked: str) -> tuple[str, list[list[int]]]:
    spans: list[list[int]] = []
    out = []
    pos = 0
    for m in re.finditer(r"\[\[(.+?)\]\]", marked, re.S):
        out.append(marked[pos:m.start()])
        start = sum(map(len, out))
        out.append(m.group(1))
        spans.append([start, start + len(m.group(1))])
        pos = m.end()
    out.append(marked[pos:])
    return "".join(out), spans


def main() -> None:
    with OUT.open("w", encoding="utf-8") as fh:
        for kind, field, marked in CASES:
            text, spans = parse(marked)
            row: dict[str, object] = {"kind": kind, "field": field,
                                      "redact_kind": {"env": "env", "path": "path"}.get(field, "message"),
                                      "text": text, "handwritten": True}
            row.update({"spans": spans} if spans else {"benign": True})
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
