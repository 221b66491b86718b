"""Stories written for these tests: reports of one event by two outlets, and different stories
on one topic."""

from __future__ import annotations

from digest.articles import Article

FERRY_A = Article(
    id=101,
    title="Ferry runs aground off Skerrin Island, all 212 passengers taken off safely",
    source="Harbour Gazette",
    url="https://gazette.example/ferry-aground",
    text=(
        "The car ferry Maren Star ran aground on a sandbank off Skerrin Island early on "
        "Tuesday, and all 212 passengers and 31 crew were taken off by lifeboats before dawn, "
        "the coastguard said.\n\n"
        "The vessel, operated by Northsound Ferries, left Port Calder at 22:40 on Monday and "
        "struck the bank about four miles from the island in a strong westerly wind. Coastguard "
        "commander Ilse Varga said the hull was not breached and no fuel had leaked.\n\n"
        "Passengers were brought to Skerrin harbour, where the island's school was opened as a "
        "rest centre. Three people were treated for minor injuries. Northsound Ferries said "
        "salvage tugs would try to refloat the Maren Star on Wednesday's high tide, and that "
        "sailings between Port Calder and Skerrin were cancelled until Friday."
    ),
)
FERRY_B = Article(
    id=102,
    title="Maren Star aground: lifeboats rescue 243 from stranded Northsound ferry",
    source="Coastal Daily",
    url="https://coastal.example/maren-star",
    text=(
        "Lifeboats rescued 243 people from the Northsound Ferries vessel Maren Star after it "
        "became stuck on a sandbank near Skerrin Island in the early hours of Tuesday.\n\n"
        "The 212 passengers and 31 crew members were ferried ashore to Skerrin harbour, and the "
        "island's school became a rest centre. Three passengers had minor injuries, according "
        "to the coastguard. The ferry had sailed from Port Calder late on Monday and was driven "
        "onto the bank by a strong westerly wind.\n\n"
        "Ilse Varga of the coastguard said there was no breach of the hull and no fuel leak. "
        "The company plans to refloat the ship with salvage tugs at Wednesday's high tide; "
        "crossings between Port Calder and Skerrin are cancelled until Friday."
    ),
)
# Same topic (a ferry, the same company and port), another event.
FERRY_OTHER = Article(
    id=103,
    title="Northsound Ferries orders two electric ferries for the Port Calder routes",
    source="Harbour Gazette",
    url="https://gazette.example/electric-ferries",
    text=(
        "Northsound Ferries has ordered two battery-electric ferries for its routes from Port "
        "Calder, the company announced on Thursday, in a deal worth £84 million.\n\n"
        "The ships, to be built at the Lindqvist yard, will each carry 180 passengers and 40 "
        "cars and charge at new shore stations in Port Calder and Skerrin. Chief executive Tomas "
        "Reid said the first would enter service in 2029 and would cut the company's fuel use "
        "on the crossing by nine tenths.\n\n"
        "Islanders welcomed the order but said the ageing fleet, which has had several "
        "breakdowns this winter, needed replacing sooner. Harbour officials said the charging "
        "stations would need planning approval next spring."
    ),
)
BUDGET_A = Article(
    id=111,
    title="Valdmark council approves 4.9% tax rise and cuts library hours",
    source="Valdmark Courier",
    url="https://courier.example/budget",
    text=(
        "Valdmark city council approved its budget for next year on Wednesday night by 27 votes "
        "to 19, raising council tax by 4.9% and cutting opening hours at seven of its eleven "
        "libraries.\n\n"
        "Council leader Priya Anand said the council faced a gap of £18.2 million after the cost "
        "of adult social care rose again. Opposition councillors proposed keeping the libraries "
        "open by drawing on reserves, but their amendment was defeated.\n\n"
        "The budget also sets aside £3 million to repair roads damaged by the winter floods and "
        "freezes parking charges in the city centre. The new tax rate takes effect in April."
    ),
)
BUDGET_B = Article(
    id=112,
    title="Libraries hit as Valdmark budget passes 27-19",
    source="Radio Valdmark",
    url="https://radio.example/valdmark-budget",
    text=(
        "Seven of Valdmark's eleven libraries will open for fewer hours after councillors voted "
        "27 to 19 on Wednesday for a budget that also lifts council tax by 4.9%.\n\n"
        "Priya Anand, who leads the council, blamed rising adult social care costs for an £18.2 "
        "million shortfall. An opposition amendment to use reserves to keep the libraries open "
        "was voted down.\n\n"
        "Parking charges in the city centre are frozen, and £3 million is set aside for roads "
        "damaged in the winter floods. The higher rate applies from April."
    ),
)
# The same council, another story.
COUNCIL_OTHER = Article(
    id=113,
    title="Valdmark council to build 400 homes on former tram depot",
    source="Valdmark Courier",
    url="https://courier.example/tram-depot",
    text=(
        "Valdmark city council will build 400 homes on the site of the former tram depot in "
        "Eastgate, after its planning committee approved the scheme on Monday.\n\n"
        "Council leader Priya Anand said 160 of the homes would be for social rent, the most "
        "the city has built in one scheme since the 1970s. Work is due to start in the autumn "
        "and the first residents could move in by 2028.\n\n"
        "Neighbours raised concerns about traffic on Depot Road and the loss of a small park, "
        "and the council agreed to keep part of the green space and add a bus stop."
    ),
)
QUAKE_A = Article(
    id=121,
    title="Magnitude 6.1 earthquake shakes Orvento province, 14 dead",
    source="Southern Wire",
    url="https://wire.example/orvento-quake",
    text=(
        "An earthquake of magnitude 6.1 struck Orvento province on Saturday afternoon, killing "
        "at least 14 people and damaging hundreds of homes in the hill town of San Lerio, "
        "officials said.\n\n"
        "The quake hit at 15:12 local time at a depth of 10 km, about 20 km north of San "
        "Lerio, according to the national geological institute. Governor Marta Celi said "
        "rescuers were still searching collapsed buildings in the old town and that 60 people "
        "had been taken to hospital.\n\n"
        "The army sent tents and field kitchens, and schools across the province will stay "
        "closed on Monday while engineers check them."
    ),
)
QUAKE_B = Article(
    id=122,
    title="San Lerio quake: death toll at 14 as rescuers search old town",
    source="Orvento News",
    url="https://orvento.example/san-lerio",
    text=(
        "Rescuers in San Lerio were digging through collapsed buildings in the old town on "
        "Saturday night after a 6.1-magnitude earthquake killed at least 14 people in Orvento "
        "province.\n\n"
        "Governor Marta Celi said 60 people were in hospital. The national geological institute "
        "put the quake's centre about 20 km north of the town, at a depth of 10 km; it struck "
        "at 15:12.\n\n"
        "Hundreds of homes were damaged. The army has sent field kitchens and tents, and the "
        "province's schools are to stay shut on Monday for safety checks."
    ),
)
