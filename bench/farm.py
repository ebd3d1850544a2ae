"""A deterministic farm of feeds: WordPress-style RSS 2.0 and Drupal-style Atom, as static files.

    python -m bench.farm FOLDER [--feeds 1000] [--entries 20] [--seed 7] [--modify 0.1]

Every entry is built from a random generator seeded by (seed, feed, entry number), so the same
arguments give byte-identical files on every machine and a run can be repeated exactly; only the
dates move, a day at a time, so that the entries stay as recent as a live planet's (an update
skips entries older than the retention window). Entries
are 50-150 words of labour news with the HTML a real blog sends (paragraphs, a link, an image, a
list), and each feed posts at its own pace, so stories of different feeds are spread over weeks
as on a real planet and the cross-feed duplicate check sees a realistic number of candidates.
`--modify FRACTION` gives that fraction of the feeds one more entry, the others untouched, so
their modification times and ETags stay the same.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HOSTS = tuple(f"127.0.0.{number}" for number in range(2, 52))
RSS_SHARE = 0.7


def default_anchor() -> datetime:
    """A week before today's midnight (UTC): the newest entries are days old, the oldest of a
    weekly feed with 20 entries about five months, inside the window planets keep."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=7)


_UNIONS = (
    "Unite", "the GMB", "Unison", "the RMT", "the CWU", "the NEU", "the UCU", "the Teamsters",
    "the UAW", "SEIU Local 32BJ", "the CGT", "Verdi", "IG Metall", "the ILWU", "the IWW",
    "the PCS", "the FBU", "the Bakers' Union", "Equity", "the Musicians' Union",
)  # fmt: skip
_WORKERS = (
    "nurses", "bus drivers", "dock workers", "teachers", "care workers", "warehouse staff",
    "cleaners", "postal workers", "rail guards", "junior doctors", "baristas",
    "delivery riders", "university lecturers", "refuse collectors", "call-centre staff",
    "baggage handlers", "hotel housekeepers", "firefighters", "shipyard welders",
    "library assistants",
)  # fmt: skip
_EMPLOYERS = (
    "Amazon", "a regional health trust", "Stagecoach", "the city council", "Royal Mail",
    "Starbucks", "Deliveroo", "a logistics contractor", "the port authority", "a hospital group",
    "a private care chain", "the university", "Ryanair", "a supermarket chain",
    "the water company", "a hotel group",
)  # fmt: skip
_PLACES = (
    "Liverpool", "Glasgow", "Leeds", "Cardiff", "Belfast", "Detroit", "Oakland", "Lyon",
    "Hamburg", "Turin", "Barcelona", "Dublin", "Bristol", "Newcastle", "Sheffield", "Chicago",
    "Melbourne", "Toronto", "Porto", "Gdansk",
)  # fmt: skip
_ISSUES = (
    "pay", "pensions", "safe staffing", "zero-hours contracts", "union recognition",
    "outsourcing", "the cost of living", "heat in the workplace", "fire and rehire", "sick pay",
    "shift patterns", "job cuts", "surveillance at work", "housing costs", "the right to strike",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "March", "April", "June", "September", "October", "November")
_SECTIONS = ("Strikes", "Organising", "Housing", "International", "Campaigns", "Health",
             "Transport", "Education", "Climate", "History")  # fmt: skip
_KINDS = ("Trades Council", "Strike Bulletin", "Workers' Voice", "Socialist Review",
          "Solidarity Network", "Labour Notes", "Rank and File", "Picket Line")  # fmt: skip
_AUTHORS = ("Maria Okafor", "Sean Doyle", "Aisha Rahman", "Tomasz Nowak", "Grace Mensah",
            "Luis Ortega", "Hannah Weiss", "Kofi Boateng", "Niamh Byrne", "Ravi Patel")  # fmt: skip
# Slots come every two or three words, as in real reports, where the same four words in a row
# are rare across different stories. A bank of fixed sentences would make every entry share
# whole sentences with thousands of others, which no planet's sources do.
_SENTENCES = (
    "{Workers} at {employer} in {place} have {voted} by {pct}% to {act} over {issue}.",
    "{Union} {says} {n} {members} will {walk} on {day} unless {management} {returns} to talks.",
    "The {dispute} began in {month} when {employer} {announced} {plans} on {issue}.",
    "{Pickets} will be {staffed} from {hour} {oclock} outside the {gate} in {place}.",
    "{Organisers} told a {packed} {meeting} that {issue} had been {raised} for {years} years.",
    "A {fund} has {raised} {money} pounds from {n} {donations} {sofar}.",
    "{Members} of {union} {travelled} across {place} to bring {supplies} and {banners}.",
    "The {employer_word} calls its {offer} of {small}% {final}, while {union} calls it a {cut}.",
    "{Tenants} and {students} have {pledged} to {join} the {rally} on {day} in {place}.",
    "{Turnout} in the {ballot} was {pct}%, {well} above the {threshold}.",
    "A {councillor} from {place} {spoke} in support and {called} for {ownership}.",
    "{Workers} {say} the {rota} gives them {hours} hours' notice of {shifts}.",
    "Talks at {venue} {broke} down after {hours} hours on {day} {evening}.",
    "The {officer} said {workers} in {place} would not {accept} {issue} being {ignored}.",
    "{Solidarity} {arrived} from {union} and from {workers} in {place} {yesterday}.",
    "{Management} has {hired} {agency} staff, which {union} {says} may be {unlawful}.",
    "Since {month}, {n} {workers} have {joined} {union}, {doubling} the {branch}.",
    "A {petition} against {issue} has {gathered} {money} {signatures} in {days} days.",
)
_SLOTS = {
    "voted": ("voted", "balloted", "decided", "resolved", "chosen"),
    "act": ("strike", "walk out", "take action", "stop work", "ban overtime"),
    "says": ("says", "warns", "confirmed", "announced", "insists"),
    "members": ("members", "workers", "staff", "employees", "activists"),
    "walk": ("walk out", "strike", "stop work", "down tools", "picket"),
    "management": ("management", "the bosses", "the company", "the directors", "the board"),
    "returns": ("returns", "comes back", "goes back", "agrees to return", "is forced back"),
    "dispute": ("dispute", "row", "conflict", "struggle", "fight"),
    "announced": ("announced", "revealed", "unveiled", "imposed", "published"),
    "plans": ("new plans", "changes", "a review", "cuts", "a restructure"),
    "Pickets": ("Pickets", "Picket lines", "Protests", "Vigils", "Rallies"),
    "staffed": ("staffed", "held", "mounted", "organised", "maintained"),
    "oclock": ("in the morning", "at dawn", "before the shift", "each day", "every morning"),
    "gate": ("main gate", "depot", "head office", "entrance", "works"),
    "Organisers": ("Organisers", "Stewards", "Speakers", "Reps", "Shop stewards"),
    "packed": ("packed", "crowded", "lively", "angry", "determined"),
    "meeting": ("meeting", "assembly", "gathering", "rally", "branch meeting"),
    "raised": ("raised", "collected", "brought in", "gathered", "pulled together"),
    "fund": ("hardship fund", "strike fund", "solidarity fund", "crowdfunder", "collection"),
    "donations": ("donations", "supporters", "gifts", "branches", "collections"),
    "sofar": ("so far", "this week", "since Friday", "in a month", "overnight"),
    "Members": ("Members", "Activists", "Supporters", "Delegates", "Comrades"),
    "travelled": ("travelled", "marched", "drove", "came", "walked"),
    "supplies": ("food", "flasks of tea", "hot soup", "sandwiches", "coffee"),
    "banners": ("banners", "flags", "placards", "leaflets", "music"),
    "employer_word": ("employer", "company", "management", "trust", "council"),
    "offer": ("offer", "deal", "proposal", "package", "settlement"),
    "final": ("final", "generous", "fair", "its best", "the last word"),
    "cut": ("real-terms cut", "pay cut", "insult", "cut in living standards", "provocation"),
    "Tenants": ("Tenants' groups", "Community groups", "Residents", "Parents", "Pensioners"),
    "students": ("student societies", "students", "youth groups", "trades councils", "clubs"),
    "pledged": ("pledged", "promised", "vowed", "agreed", "voted"),
    "join": ("join", "support", "swell", "back", "attend"),
    "rally": ("rally", "march", "demonstration", "protest", "picket"),
    "Turnout": ("Turnout", "Participation", "The vote", "Support", "The return"),
    "ballot": ("ballot", "vote", "poll", "consultation", "indicative ballot"),
    "well": ("well", "comfortably", "far", "easily", "clearly"),
    "threshold": ("legal threshold", "required minimum", "fifty per cent line", "hurdle", "bar"),
    "councillor": ("councillor", "local MP", "mayor", "bishop", "teacher"),
    "spoke": ("spoke", "stood up", "wrote", "appeared", "marched"),
    "called": ("called", "argued", "pressed", "campaigned", "appealed"),
    "ownership": ("public ownership", "a fair deal", "talks", "an inquiry", "nationalisation"),
    "say": ("say", "complain", "report", "explain", "argue"),
    "rota": ("new rota", "schedule", "app", "system", "roster"),
    "shifts": ("their shifts", "changes", "overtime", "start times", "cancellations"),
    "venue": ("the conciliation service", "Acas", "head office", "the town hall", "a hotel"),
    "broke": ("broke", "fell", "came", "ground", "petered"),
    "evening": ("evening", "night", "afternoon", "morning", "lunchtime"),
    "officer": ("branch secretary", "regional organiser", "shop steward", "convenor", "chair"),
    "accept": ("accept", "tolerate", "put up with", "stand for", "ignore"),
    "ignored": ("ignored", "dismissed", "brushed aside", "overlooked", "sidelined"),
    "Solidarity": ("Solidarity messages", "Greetings", "Donations", "Letters", "Delegations"),
    "arrived": ("arrived", "came", "poured in", "flooded in", "were read out"),
    "yesterday": ("yesterday", "this week", "on Sunday", "overnight", "at the weekend"),
    "hired": ("hired", "brought in", "recruited", "drafted in", "used"),
    "agency": ("agency", "temporary", "contract", "replacement", "casual"),
    "unlawful": ("unlawful", "illegal", "a breach", "strike-breaking", "against the rules"),
    "joined": ("joined", "signed up to", "enrolled in", "come into", "found"),
    "doubling": ("doubling", "tripling", "transforming", "reviving", "rebuilding"),
    "branch": ("branch", "membership", "union", "workplace", "committee"),
    "petition": ("petition", "open letter", "statement", "appeal", "campaign"),
    "gathered": ("gathered", "collected", "won", "drawn", "reached"),
    "signatures": ("signatures", "names", "backers", "supporters", "pledges"),
}
_LIST_ITEMS = (
    "Rally in {place} on {day} at {hour} o'clock",
    "Donate to the {place} strike fund",
    "Write to your representative about {issue}",
    "Join {union} and bring a workmate",
    "Share the strike leaflet with {workers}",
    "Picket rota: {day} mornings in {place}",
    "Public meeting on {issue} at the library",
)


@dataclass(frozen=True)
class Entry:
    serial: int
    title: str
    link: str
    guid: str
    author: str
    categories: tuple[str, ...]
    published: datetime
    excerpt: str
    html: str


@dataclass(frozen=True)
class Farm:
    """N feeds of M entries in `folder`; feed `index` is served by host HOSTS[index % 50]."""

    folder: Path
    feeds: int
    entries: int
    seed: int = 7
    anchor: datetime = field(default_factory=default_anchor)

    def path(self, index: int) -> Path:
        return self.folder / self.relative(index)

    def relative(self, index: int) -> str:
        extension = "rss" if self._is_rss(index) else "atom"
        return f"feeds/{index:05d}.{extension}"

    def url(self, index: int, port: int) -> str:
        return f"http://{HOSTS[index % len(HOSTS)]}:{port}/{self.relative(index)}"

    def urls(self, port: int) -> list[str]:
        return [self.url(index, port) for index in range(self.feeds)]

    def title(self, index: int) -> str:
        rng = self._rng("title", index)
        return f"{rng.choice(_PLACES)} {rng.choice(_KINDS)} {index:05d}"

    def write(self) -> None:
        (self.folder / "feeds").mkdir(parents=True, exist_ok=True)
        for index in range(self.feeds):
            self.write_feed(index, self.entries)

    def modify(self, fraction: float) -> list[int]:
        """Give one more entry to a fixed sample of the feeds; return which ones."""
        chosen = self.sample(fraction)
        for index in chosen:
            self.write_feed(index, self.entries + 1)
        return chosen

    def restore(self, indices: Sequence[int]) -> None:
        for index in indices:
            self.write_feed(index, self.entries)

    def sample(self, fraction: float) -> list[int]:
        count = min(self.feeds, round(self.feeds * fraction))
        return sorted(self._rng("modify", 0).sample(range(self.feeds), count))

    def write_feed(self, index: int, count: int) -> None:
        entries = [self.entry(index, serial) for serial in reversed(range(count))]
        document = self._rss(index, entries) if self._is_rss(index) else self._atom(index, entries)
        self.path(index).write_bytes(document.encode())

    def entry(self, index: int, serial: int) -> Entry:
        rng = self._rng("entry", index, serial)
        site = self._site(index)
        fill = _Filler(rng)
        title = fill(
            rng.choice(
                (
                    "{Workers} in {place} vote to strike over {issue}",
                    "{Union} wins recognition at {employer}",
                    "Solidarity with {workers} at {employer}",
                    "{place}: {workers} walk out over {issue}",
                    "Why {issue} matters to {workers}",
                    "Report from the picket line in {place}",
                )
            )
        )
        slug = "-".join(title.lower().replace(":", "").replace("'", "").split())[:60]
        published = self._newest(index) + self._cadence(index) * (serial - self.entries + 1)
        link = f"{site}{published:%Y/%m/%d}/{slug}-{serial}/"
        html, words = _body(rng, fill, site, published, title)
        return Entry(
            serial=serial,
            title=title,
            link=link,
            # WordPress numbers its posts ?p=N, Drupal its nodes node/N.
            guid=f"{site}{'?p=' if self._is_rss(index) else 'node/'}{index * 1000 + serial + 100}",
            author=rng.choice(_AUTHORS),
            categories=tuple(rng.sample(_SECTIONS, rng.randint(1, 3))),
            published=published,
            excerpt=" ".join(words[:40]) + " [&#8230;]",
            html=html,
        )

    def _rss(self, index: int, entries: list[Entry]) -> str:
        site = self._site(index)
        items = "".join(
            f"""
	<item>
		<title>{escape(entry.title)}</title>
		<link>{entry.link}</link>
		<comments>{entry.link}#respond</comments>
		<dc:creator><![CDATA[{entry.author}]]></dc:creator>
		<pubDate>{format_datetime(entry.published)}</pubDate>
{"".join(f"		<category><![CDATA[{name}]]></category>{chr(10)}" for name in entry.categories)}\
		<guid isPermaLink="false">{entry.guid}</guid>
		<description><![CDATA[<p>{entry.excerpt}</p>]]></description>
		<content:encoded><![CDATA[{entry.html}]]></content:encoded>
		<wfw:commentRss>{entry.link}feed/</wfw:commentRss>
		<slash:comments>{entry.serial % 7}</slash:comments>
	</item>"""
            for entry in entries
        )
        return f"""<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:atom="http://www.w3.org/2005/Atom"
	xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
	xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
	>

<channel>
	<title>{escape(self.title(index))}</title>
	<atom:link href="{site}feed/" rel="self" type="application/rss+xml" />
	<link>{site}</link>
	<description>News from the workplace and the street</description>
	<lastBuildDate>{format_datetime(entries[0].published)}</lastBuildDate>
	<language>en-GB</language>
	<sy:updatePeriod>hourly</sy:updatePeriod>
	<sy:updateFrequency>1</sy:updateFrequency>
	<generator>https://wordpress.org/?v=6.5.2</generator>{items}
	</channel>
</rss>
"""

    def _atom(self, index: int, entries: list[Entry]) -> str:
        site = self._site(index)
        items = "".join(
            f"""
  <entry>
    <title type="html">{escape(escape(entry.title))}</title>
    <link href="{entry.link}" rel="alternate" type="text/html"/>
    <id>{entry.guid}</id>
    <published>{entry.published.isoformat()}</published>
    <updated>{entry.published.isoformat()}</updated>
    <author><name>{entry.author}</name></author>
{"".join(f'    <category term="{name}"/>{chr(10)}' for name in entry.categories)}\
    <summary type="html">{escape("<p>" + entry.excerpt + "</p>")}</summary>
    <content type="html">{escape(entry.html)}</content>
  </entry>"""
            for entry in entries
        )
        return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>{escape(self.title(index))}</title>
  <link href="{site}" rel="alternate" type="text/html"/>
  <link href="{site}rss.xml" rel="self" type="application/atom+xml"/>
  <id>{site}</id>
  <updated>{entries[0].published.isoformat()}</updated>
  <generator uri="https://www.drupal.org/">Drupal</generator>{items}
</feed>
"""

    def _site(self, index: int) -> str:
        return f"https://site{index:05d}.example.org/"

    def _is_rss(self, index: int) -> bool:
        return self._rng("format", index).random() < RSS_SHARE

    def _cadence(self, index: int) -> timedelta:
        """From several posts a day to one a week, like the blogs of a real planet."""
        return timedelta(minutes=self._rng("cadence", index).randint(4 * 60, 168 * 60))

    def _newest(self, index: int) -> datetime:
        return self.anchor - timedelta(minutes=self._rng("newest", index).randint(0, 72 * 60))

    def _rng(self, *key: object) -> random.Random:
        return random.Random(":".join(str(part) for part in (self.seed, *key)))


class _Filler:
    """Fills a template's slots with fresh picks, so no two entries share long word runs."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, template: str) -> str:
        rng = self.rng
        workers = rng.choice(_WORKERS)
        union = rng.choice(_UNIONS)
        slots = {name: rng.choice(options) for name, options in _SLOTS.items()}
        slots.update({name[0].upper() + name[1:]: value[0].upper() + value[1:]
                      for name, value in slots.items() if name[0].islower()})  # fmt: skip
        return template.format(
            **slots,
            Workers=workers.capitalize(),
            workers=workers,
            Union=union[0].upper() + union[1:],
            union=union,
            employer=rng.choice(_EMPLOYERS),
            place=rng.choice(_PLACES),
            issue=rng.choice(_ISSUES),
            day=rng.choice(_DAYS),
            month=rng.choice(_MONTHS),
            pct=rng.randint(55, 99),
            small=rng.randint(1, 5),
            n=rng.randint(12, 4000),
            years=rng.randint(2, 15),
            hours=rng.randint(6, 96),
            hour=rng.randint(5, 9),
            days=rng.randint(2, 30),
            money=rng.randint(300, 90000),
        )


def _body(
    rng: random.Random, fill: _Filler, site: str, published: datetime, title: str
) -> tuple[str, list[str]]:
    """The entry's HTML and its words, 50 to 150 of them."""
    target = rng.randint(60, 145)  # and the four words of the link
    sentences: list[str] = []
    items = [fill(item) for item in rng.sample(_LIST_ITEMS, 3)]
    words = sum(len(item.split()) for item in items)
    for template in rng.sample(_SENTENCES, len(_SENTENCES)):
        sentence = fill(template)
        if words + len(sentence.split()) <= target:
            sentences.append(sentence)
            words += len(sentence.split())
        if words >= target - 10:
            break
    third = max(1, len(sentences) // 3)
    first, second, last = sentences[:third], sentences[third : 2 * third], sentences[2 * third :]
    upload = f"{site}wp-content/uploads/{published:%Y/%m}/picket-{rng.randint(100, 9999)}.jpg"
    parts = [
        f'<p>{" ".join(first)} <a href="{site}campaigns/{rng.randint(1, 400)}/">'
        "Read the full statement</a>.</p>",
        f'<figure class="wp-block-image size-large"><img src="{upload}" alt="{escape(title)}" '
        'width="1024" height="683" loading="lazy" /></figure>',
        f"<p>{' '.join(second)}</p>" if second else "",
        "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>",
        f"<p>{' '.join(last)}</p>" if last else "",
    ]
    text = " ".join([*sentences, *items])
    return "\n".join(part for part in parts if part), text.split()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.farm", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--modify", type=float, default=0.0, metavar="FRACTION",
        help="give this fraction of the feeds one more entry",
    )  # fmt: skip
    args = parser.parse_args(argv)
    farm = Farm(args.folder, args.feeds, args.entries, args.seed)
    farm.write()
    changed = farm.modify(args.modify) if args.modify else []
    print(
        f"{args.folder}: {args.feeds} feeds of {args.entries} entries, {len(changed)} with one more"
    )


if __name__ == "__main__":
    main()
