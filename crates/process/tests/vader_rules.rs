//! VADER's rules one at a time, each against scores printed by PyPI vaderSentiment 3.3.2
//! (CPython 3.11.7) for the same sentence, compared exactly: the port rounds as Python does, so
//! there is no tolerance to hide behind.

// Scores such as 0.318 are VADER's outputs, not approximations of 1/π.
#![allow(clippy::approx_constant)]

use signalcraft_process::sentiment::{Polarity, SentimentAnalyzer};

/// (text, neg, neu, pos, compound) as printed by
/// `SentimentIntensityAnalyzer().polarity_scores(text)`.
type Case = (&'static str, f64, f64, f64, f64);

fn assert_cases(cases: &[Case]) {
    let analyzer = SentimentAnalyzer::new();
    for &(text, neg, neu, pos, compound) in cases {
        assert_eq!(analyzer.polarity_scores(text), Polarity { neg, neu, pos, compound }, "{text:?}");
    }
}

/// Negation words one, two or three tokens before a lexicon word flip and damp it (x -0.74); "never
/// so/this" boosts; "without doubt" is not a negation; any word with "n't" negates.
#[test]
fn negation() {
    assert_cases(&[
        ("The book was good.", 0.0, 0.508, 0.492, 0.4404),
        ("The book was not good.", 0.376, 0.624, 0.0, -0.3412),
        ("The book was not very good.", 0.344, 0.656, 0.0, -0.3865),
        ("I don't think it is good", 0.0, 0.633, 0.367, 0.4404),
        ("Not bad at all", 0.0, 0.513, 0.487, 0.431),
        ("At least it isn't a horrible book.", 0.0, 0.678, 0.322, 0.431),
        ("It was never good.", 0.445, 0.555, 0.0, -0.3412),
        ("Sentiment analysis has never been this good!", 0.0, 0.621, 0.379, 0.5672),
        ("It has never been so good", 0.0, 0.572, 0.428, 0.5777),
        ("Without a doubt, excellent idea.", 0.0, 0.341, 0.659, 0.7013),
        ("Without a doubt, an excellent idea.", 0.0, 0.408, 0.592, 0.7013),
        ("without doubt good", 0.0, 0.166, 0.834, 0.6136),
        ("nothing good here", 0.546, 0.454, 0.0, -0.3412),
        ("It aint good", 0.546, 0.454, 0.0, -0.3412),
        ("It wasnt good", 0.546, 0.454, 0.0, -0.3412),
    ]);
}

/// "no" before a lexicon word counts 0 and negates the word after it (also two back, and three back
/// across "or"/"nor").
#[test]
fn no_as_negation() {
    assert_cases(&[
        ("no", 1.0, 0.0, 0.0, -0.296),
        ("no good", 0.706, 0.294, 0.0, -0.3412),
        ("There is no problem", 0.0, 0.571, 0.429, 0.3089),
        ("no, no, no", 0.524, 0.476, 0.0, -0.296),
        ("no fun or joy", 0.743, 0.257, 0.0, -0.6979),
        ("no fun nor joy", 0.373, 0.276, 0.35, -0.0435),
        ("no fun and joy", 0.318, 0.235, 0.447, 0.2728),
        ("no no", 0.0, 0.346, 0.654, 0.2235),
    ]);
}

/// "least" before a word negates it, except after "at" or "very".
#[test]
fn least() {
    assert_cases(&[
        ("the least compelling variation", 0.357, 0.643, 0.0, -0.1695),
        ("at least compelling", 0.0, 0.513, 0.487, 0.2263),
        ("the very least compelling", 0.0, 0.579, 0.421, 0.2911),
        ("least good", 0.706, 0.294, 0.0, -0.3412),
        ("Roger Dodger is one of the least compelling variations on this theme.", 0.132, 0.868, 0.0, -0.1695),
    ]);
}

/// Valences before the first "but" are halved, after it grow by half — with the Python's first-
/// equal-value quirk ("Kind people, but ok": "ok" equals the halved "Kind", so "Kind" is halved
/// again and "ok" is not scaled).
#[test]
fn but() {
    assert_cases(&[
        (
            "The plot was good, but the characters are uncompelling and the dialog is not great.",
            0.327,
            0.579,
            0.094,
            -0.7042,
        ),
        ("good but bad", 0.617, 0.13, 0.253, -0.5859),
        ("bad but good", 0.317, 0.141, 0.542, 0.3818),
        ("good BUT bad", 0.617, 0.13, 0.253, -0.5859),
        ("but good", 0.0, 0.206, 0.794, 0.5927),
        ("good but", 0.0, 0.339, 0.661, 0.2382),
        ("good but good", 0.0, 0.147, 0.853, 0.7003),
        ("Kind people, but ok", 0.0, 0.345, 0.655, 0.4215),
        // "ok." keeps its period (stripping would leave two characters), so it is no lexicon word.
        ("Kind people, but ok.", 0.0, 0.577, 0.423, 0.296),
        ("I love it but ty", 0.0, 0.405, 0.595, 0.5267),
        ("good but bad but good", 0.378, 0.159, 0.462, 0.0129),
    ]);
}

/// ALL CAPS adds 0.733 to a lexicon word or booster only when some other token is not ALL CAPS;
/// isupper() counts "I'M" and ":D".
#[test]
fn caps() {
    assert_cases(&[
        ("VADER is smart, handsome, and funny.", 0.0, 0.254, 0.746, 0.8316),
        ("VADER is VERY SMART, handsome, and FUNNY.", 0.0, 0.246, 0.754, 0.9227),
        ("GOOD", 0.0, 0.0, 1.0, 0.4404),
        ("GOOD DAY", 0.0, 0.256, 0.744, 0.4404),
        ("good DAY", 0.0, 0.256, 0.744, 0.4404),
        ("Today SUX!", 0.779, 0.221, 0.0, -0.5461),
        ("it is NO good", 0.674, 0.326, 0.0, -0.4835),
        ("NO", 1.0, 0.0, 0.0, -0.296),
        ("I'M GOOD", 0.0, 0.256, 0.744, 0.4404),
        (":D good", 0.0, 0.0, 1.0, 0.7865),
        ("Have a GREAT day :D", 0.0, 0.253, 0.747, 0.871),
    ]);
}

/// Boosters and dampeners add +-0.293 in the valence's direction, x0.95 two back and x0.9 three
/// back; 0.733 more in ALL CAPS.
#[test]
fn boosters() {
    assert_cases(&[
        ("very good", 0.0, 0.238, 0.762, 0.4927),
        ("VERY good", 0.0, 0.203, 0.797, 0.6028),
        ("it is very good", 0.0, 0.484, 0.516, 0.4927),
        ("extremely very good", 0.0, 0.366, 0.634, 0.5379),
        ("really really really good", 0.0, 0.445, 0.555, 0.5768),
        ("slightly good", 0.0, 0.277, 0.723, 0.3832),
        ("slightly bad", 0.762, 0.238, 0.0, -0.4951),
        ("hardly bad", 0.762, 0.238, 0.0, -0.4951),
        ("so good", 0.0, 0.238, 0.762, 0.4927),
        ("this is so bad", 0.6, 0.4, 0.0, -0.6696),
        ("an uber handsome guy", 0.0, 0.462, 0.538, 0.5413),
        ("it is FRIGGIN FUNNY", 0.0, 0.392, 0.608, 0.6867),
    ]);
}

/// "kind of", "sort of", "kinda", "just enough" dampen; "kind" followed by "of" carries no valence
/// of its own.
#[test]
fn kind_of() {
    assert_cases(&[
        ("The book was only kind of good.", 0.0, 0.697, 0.303, 0.3832),
        ("kinda good", 0.0, 0.277, 0.723, 0.3832),
        ("kind of good", 0.0, 0.408, 0.592, 0.4404),
        ("it was kind of good", 0.0, 0.605, 0.395, 0.3832),
        ("it was sort of bad", 0.487, 0.513, 0.0, -0.5849),
        ("just enough good", 0.0, 0.408, 0.592, 0.4404),
        ("it was kind", 0.0, 0.37, 0.63, 0.5267),
        ("Kind of KIND", 0.0, 0.326, 0.674, 0.6289),
    ]);
}

/// Special-case idioms replace the valence, but only for a lexicon word at index 3 or later whose
/// third predecessor is not a lexicon word.
#[test]
fn idioms() {
    assert_cases(&[
        ("the shit", 0.783, 0.217, 0.0, -0.5574),
        ("this movie is the shit", 0.0, 0.5, 0.5, 0.6124),
        ("That was the bomb", 0.0, 0.429, 0.571, 0.6124),
        ("He is a bad ass", 0.0, 0.375, 0.625, 0.6124),
        ("yeah right, great", 0.0, 0.137, 0.863, 0.743),
        ("it was the kiss of death", 0.556, 0.444, 0.0, -0.6124),
        ("that cake is to die for", 0.438, 0.562, 0.0, -0.5994),
        ("a beating heart", 0.366, 0.122, 0.512, 0.296),
        ("the bus stop is nice", 0.355, 0.645, 0.0, -0.296),
    ]);
}

/// Up to four "!" add 0.292 each; two or three "?" add 0.18 each, four or more 0.96; both only in
/// the direction of the sum.
#[test]
fn punctuation() {
    assert_cases(&[
        ("good", 0.0, 0.0, 1.0, 0.4404),
        ("good!", 0.0, 0.0, 1.0, 0.4926),
        ("good!!", 0.0, 0.0, 1.0, 0.5399),
        ("good!!!!", 0.0, 0.0, 1.0, 0.6209),
        ("good!!!!!!!", 0.0, 0.0, 1.0, 0.6209),
        ("bad!!!", 1.0, 0.0, 0.0, -0.6571),
        ("good?", 0.0, 0.0, 1.0, 0.4404),
        ("good??", 0.0, 0.0, 1.0, 0.504),
        ("good???", 0.0, 0.0, 1.0, 0.533),
        ("good????", 0.0, 0.0, 1.0, 0.594),
        ("is it good?!?!", 0.0, 0.342, 0.658, 0.5919),
        ("ok !!", 0.0, 0.264, 0.736, 0.4184),
        ("!!!", 0.0, 1.0, 0.0, 0.0),
    ]);
}

/// Single-code-point emojis become their description; a space goes before it unless it starts the
/// text or follows a ' ', never after it.
#[test]
fn emoji() {
    assert_cases(&[
        ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.0, 0.583, 0.417, 0.875),
        ("😁", 0.0, 0.571, 0.429, 0.4588),
        ("I am😁", 0.0, 0.667, 0.333, 0.4588),
        ("😁happy", 0.0, 0.571, 0.429, 0.4588),
        ("💘💋", 0.0, 0.3, 0.7, 0.7906),
        ("🔛", 0.0, 1.0, 0.0, 0.0),
        ("🆙 🆙", 0.0, 1.0, 0.0, 0.0),
        ("👍🏽", 0.0, 1.0, 0.0, 0.0),
        ("❤️ you", 0.0, 1.0, 0.0, 0.0),
        ("good ©", 0.0, 0.256, 0.744, 0.4404),
        ("😡 😡 😡", 0.0, 1.0, 0.0, 0.0),
    ]);
}

/// Python string semantics: whitespace per str.split(), punctuation stripping unless <= 2
/// characters remain, isupper() and lower() on non-ASCII.
#[test]
fn python_text() {
    assert_cases(&[
        ("", 0.0, 0.0, 0.0, 0.0),
        ("   ", 0.0, 0.0, 0.0, 0.0),
        (":)", 0.0, 0.0, 1.0, 0.4588),
        (":-(", 1.0, 0.0, 0.0, -0.3612),
        ("(ok)", 0.0, 1.0, 0.0, 0.0),
        ("\"great!!\"", 0.0, 0.0, 1.0, 0.6892),
        ("good\u{1f}bad", 0.547, 0.0, 0.453, -0.1531),
        ("good\u{a0}day", 0.0, 0.256, 0.744, 0.4404),
        ("ÉTÉ good", 0.0, 0.256, 0.744, 0.4404),
        ("Bad, bad, bad!", 1.0, 0.0, 0.0, -0.8955),
        ("great... not", 0.0, 0.196, 0.804, 0.6249),
        ("it's NOT good", 0.546, 0.454, 0.0, -0.3412),
        ("I can't stand it", 0.0, 1.0, 0.0, 0.0),
        ("fed up", 0.0, 1.0, 0.0, 0.0),
    ]);
}
