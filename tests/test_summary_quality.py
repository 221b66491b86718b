"""What an editor marks in a summary, each on a text written here: a late short detail that
fills the budget, a sentence that points back to one the summary left out, a short
pronoun-led sentence beating the news, a person named by surname alone, boilerplate."""

from __future__ import annotations

from digest.articles import Article
from digest.evaluate_readability import readability_problems
from digest.summarize.extractive import ExtractiveSummarizer, article_sentences
from digest.summarize.names import ArticleNames, introduce_people
from digest.summarize.readability import boilerplate, pointing_back
from digest.summarize.sentences import split_sentences

THEME = "energy and climate"


def summary_of(text: str, title: str = "Report", words: int = 60, theme: str = THEME) -> str:
    article = Article(title=title, text=text)
    return ExtractiveSummarizer().summarize(article, theme=theme, max_words=words).text


EMISSIONS = "\n\n".join(
    [
        "Total carbon emissions from the state's power plants fell 2 percent last year, the "
        "energy agency said on Monday in its annual review of the grid.",
        "Solar farms and wind turbines supplied a record share of the grid's power, while coal "
        "plants ran fewer hours than in any year since the agency began its review.",
        "That's been driving down emissions.",
        "The agency expects power plant emissions to keep falling as two more coal plants close "
        "and new solar farms connect to the grid next year.",
        "Officials at the agency said demand for power from data centres could slow the fall.",
        "The grid operator listed the coal closures in its assessment at page six.",
        "Engineers at the grid operator are also studying batteries for the evening peak, when "
        "solar output drops and demand for power from homes rises.",
        "We are talking about little changes.",
    ]
)


def test_the_news_leads_and_a_short_pronoun_sentence_does_not_beat_it() -> None:
    summary = summary_of(EMISSIONS)
    assert summary.startswith("Total carbon emissions from the state's power plants fell 2")
    assert "That's been driving down emissions." not in summary


def test_no_budget_filler_a_summary_stops_short_rather_than_add_a_late_detail() -> None:
    summary = summary_of(EMISSIONS, words=84)
    assert "page six" not in summary
    assert "little changes" not in summary
    assert len(summary.split()) <= 84


def test_a_sentence_that_points_back_is_used_only_after_the_one_it_follows() -> None:
    text = "\n\n".join(
        [
            "The city council approved a new tram line to the airport on Tuesday after a vote "
            "of 31 to 9, ending a decade of debate about the route.",
            "Construction of the tram line will begin in the spring and take four years.",
            "Residents near the depot had opposed the route for years.",
            "They said the tram line to the airport would bring noise, and the council vote on "
            "the tram line ignored them.",
            "The airport welcomed the tram line vote.",
        ]
    )
    assert_points_back_only_after_what_it_follows(summary_of(text, words=70), text)


def assert_points_back_only_after_what_it_follows(summary: str, text: str) -> None:
    sentences = split_sentences(summary)
    article_sentences = [s for p in text.split("\n\n") for s in split_sentences(p)]
    for position, sentence in enumerate(sentences):
        if pointing_back(sentence):
            assert position > 0
            before = article_sentences[article_sentences.index(sentence) - 1]
            assert sentences[position - 1] == before, sentences


def test_a_person_named_by_surname_alone_gets_the_full_name_from_the_article() -> None:
    text = "\n\n".join(
        [
            '"We will not accept another delay to the rail line," Onwurah said on Tuesday, as '
            "the transport committee published its report on the northern rail line.",
            "The committee found the rail line two years late and its budget overspent.",
            "Chi Onwurah, the Labour MP for Newcastle Central, chairs the committee.",
        ]
    )
    article = Article(title="Rail line report", text=text)
    summary = ExtractiveSummarizer().summarize(article, theme="transport", max_words=40)
    assert '," Chi Onwurah said on Tuesday' in summary.text
    assert "Onwurah" in summary.note and "Chi Onwurah" in summary.note


def test_names_already_given_in_full_or_part_of_a_longer_name_are_left_alone() -> None:
    article = (
        "Scientologist John Travolta spoke on Monday. Travolta said he had not seen it. "
        "Fans of the Premier League and Princess Eugenie, who turned 25, met Travolta."
    )
    names = ArticleNames(article)
    sentences = ["Travolta said he had not seen it.", "John Travolta said no."]
    completed, changes = introduce_people(sentences, names)
    assert completed == ["John Travolta said he had not seen it.", "Travolta said no."]
    assert [(c.surname, c.full_name) for c in changes] == [("Travolta", "John Travolta")]
    untouched = ["Scientologist John Travolta spoke.", "Premier League fans met Eugenie."]
    assert introduce_people(untouched, names)[0] == untouched
    # "Islamic State" is not a person even when "State" is used alone: "state" is a word here.
    state = ArticleNames("Fighters of Islamic State left. The state said State would fall.")
    assert state.full_name("State") is None


def test_boilerplate_never_enters_a_summary() -> None:
    text = "\n\n".join(
        [
            "Scroll down for video A new wind farm off the coast began supplying power to the "
            "grid on Friday, the energy company said.",
            "Sign up for our energy newsletter to get the latest wind farm and power grid news.",
            "This article originally appeared on Example Energy News, about the wind farm.",
            "The wind farm's 80 turbines (pictured) supply power to the grid, the company said.",
            "Reporting by Jane Doe; editing by John Roe for the energy desk.",
        ]
    )
    summary = summary_of(text, words=84)
    assert summary.startswith("A new wind farm off the coast")
    # What is left of a sentence with its picture aside taken out may still be chosen.
    assert "The wind farm's 80 turbines supply power to the grid, the company said." in (
        article_sentences(text)
    )
    for phrase in ("Sign up", "originally appeared", "Reporting by", "(pictured)", "Scroll"):
        assert phrase not in summary


def test_scene_setting_lead_gives_way_to_the_news() -> None:
    text = "\n\n".join(
        [
            "It was a cold morning in the harbour town, and the fishing boats stayed in port.",
            "The government on Wednesday banned bottom trawling in the country's marine parks, "
            "a ban on trawling that fishing groups had fought for a decade.",
            "Fishing groups said the trawling ban would cost 2,000 jobs in harbour towns.",
            "Marine scientists said the trawling ban would let the parks' seabed recover.",
        ]
    )
    summary = summary_of(text, words=60, theme="the sea")
    assert summary.startswith("The government on Wednesday banned bottom trawling")


def test_readability_checks_on_sentences() -> None:
    assert pointing_back("He said the plan would work.") == "He"
    assert pointing_back("That's been driving down emissions.") == "That's"
    assert pointing_back("But the council disagreed.") == "But"
    assert pointing_back("As a result, prices rose.") == "As a result"
    assert pointing_back('"We will not leave," the mayor said.') is None
    assert pointing_back("We are talking about little microbes.") == "We"
    assert pointing_back("The mayor said the plan would work.") is None
    assert pointing_back("There were 50 people on board.") is None
    assert boilerplate("This article originally appeared on VICE US.")
    assert boilerplate("Follow her on Twitter @example.")
    assert boilerplate("Subscribe to the Example newsletter to get our pick of news.")
    assert not boilerplate("In 2008, she donated the same amount to the Labour party.")
    assert not boilerplate("Another guard commented on the photo: 'Well done.'")


def test_evaluation_counts_dangling_openings_and_filler_for_any_system() -> None:
    article = " ".join(
        [
            "The council approved the tram line on Tuesday.",
            "It will open in 2030.",
            *[f"Paragraph {n} discusses the tram line budget and the council." for n in range(6)],
            "A cat sat nearby.",
        ]
    )
    adjacent = readability_problems(
        article, "The council approved the tram line on Tuesday. It will open in 2030."
    )
    assert adjacent.dangling == 0
    detached = readability_problems(article, "It will open in 2030.")
    assert detached.dangling == 1
    late = readability_problems(
        article, "The council approved the tram line on Tuesday. A cat sat nearby."
    )
    assert late.filler == 1


def test_quotations_with_a_pronoun_for_speaker_and_cut_captions_are_left_out() -> None:
    assert pointing_back("“Loss rates have been lower on these lands,” he said.") == "he"
    text = "\n\n".join(
        [
            "is among the unique menu items at the restaurant.",
            "The city's oldest market reopened on Saturday after a two-year rebuilding that cost "
            "the city 40 million dollars, the market's owners said.",
            "“The market is back and better than before, and traders are happy,” she said.",
            "• Traders said rents at the rebuilt market would rise by a tenth next year.",
        ]
    )
    summary = summary_of(text, words=80, theme="the city")
    assert summary.startswith("The city's oldest market reopened")
    assert "is among" not in summary and "•" not in summary
    assert_points_back_only_after_what_it_follows(summary, text)


def test_a_dateline_in_capitals_is_not_part_of_the_summary() -> None:
    text = (
        "ST CATHERINE, Jamaica — A police inspector was hurt on Friday when a stone was thrown "
        "at the police station, the police said."
    )
    assert summary_of(text, theme="crime").startswith("A police inspector was hurt")


def test_a_completed_name_is_not_repeated_in_full_in_the_next_sentence() -> None:
    article = (
        "Svitlana Hrynchuk, the energy minister, visited Kyiv on Monday. "
        "Hrynchuk said repairs would take weeks. Svitlana Hrynchuk met engineers."
    )
    completed, changes = introduce_people(
        ["Hrynchuk said repairs would take weeks.", "Svitlana Hrynchuk met engineers."],
        ArticleNames(article),
    )
    assert completed == [
        "Svitlana Hrynchuk said repairs would take weeks.",
        "Hrynchuk met engineers.",
    ]
    assert [c.full_name for c in changes] == ["Svitlana Hrynchuk"]
