#include "tasks/qa_facts.h"

#include <vector>

namespace cab_eval {

namespace {

// {N} is a name, {A} the answer.
struct FactTemplate {
    const char *sentence;
    const char *question;
    std::vector<std::string> answers;
};

const std::vector<FactTemplate> &templates() {
    static const std::vector<FactTemplate> t = {
        {"The secret ingredient of the cake in {N}'s bakery is {A}.",
         "What is the secret ingredient of the cake in {N}'s bakery?",
         {"cardamom", "saffron", "lavender", "nutmeg", "rosemary", "tamarind", "star anise"}},
        {"{N}'s fishing boat is named the {A}.",
         "What is the name of {N}'s fishing boat?",
         {"Blue Heron", "Morning Tide", "Silver Gull", "Sea Sparrow", "Copper Kettle"}},
        {"The favorite color of {N}'s grandmother is {A}.",
         "What is the favorite color of {N}'s grandmother?",
         {"turquoise", "magenta", "crimson", "amber", "indigo", "teal", "mauve"}},
        {"{N} keeps the spare key to the lighthouse under the {A}.",
         "Where does {N} keep the spare key to the lighthouse?",
         {"blue flower pot", "stone turtle", "red doormat", "loose floorboard", "garden gnome"}},
        {"{N}'s parrot can say exactly one word, which is {A}.",
         "What is the one word that {N}'s parrot can say?",
         {"pineapple", "thunder", "biscuit", "marmalade", "pumpernickel", "kazoo"}},
        {"The password to {N}'s workshop is {A}.",
         "What is the password to {N}'s workshop?",
         {"butterscotch", "zeppelin", "copperfield", "lemongrass", "quasar", "hazelnut"}},
        {"{N} learned to play the {A} during a long winter in Tromso.",
         "Which instrument did {N} learn to play during a long winter in Tromso?",
         {"cello", "accordion", "bassoon", "harpsichord", "ukulele", "oboe", "banjo"}},
        {"In the spring {N} planted {A} behind the old schoolhouse.",
         "What did {N} plant behind the old schoolhouse?",
         {"sunflowers", "tulips", "blueberries", "pumpkins", "asparagus", "marigolds"}},
        {"{N}'s cat is named {A}.",
         "What is the name of {N}'s cat?",
         {"Biscotti", "Pickles", "Admiral", "Noodle", "Tofu", "Waffles"}},
        {"The meeting of the {N} chess club takes place in {A}.",
         "Where does the meeting of the {N} chess club take place?",
         {"the greenhouse", "the bell tower", "the old mill", "the boathouse", "the observatory"}},
    };
    return t;
}

const std::vector<std::string> &names() {
    static const std::vector<std::string> n = {
        "Marlowe",  "Ingrid",   "Tobias",  "Wren",    "Caspian",   "Ottoline", "Fenwick",
        "Marisol",  "Thaddeus", "Beatrix", "Leopold", "Rosalind",  "Evander",  "Juniper",
        "Percival", "Cordelia", "Ambrose", "Isolde",  "Barnaby",   "Philippa", "Anselm",
        "Dorothea", "Lysander", "Imogen",  "Cosimo",  "Henrietta", "Oswin",    "Seraphina"};
    return n;
}

std::string fill(const std::string &pattern, const std::string &name, const std::string &answer) {
    std::string out;
    for (size_t i = 0; i < pattern.size(); ++i) {
        if (pattern.compare(i, 3, "{N}") == 0) {
            out += name;
            i += 2;
        } else if (pattern.compare(i, 3, "{A}") == 0) {
            out += answer;
            i += 2;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

}  // namespace

QaFact make_qa_fact(Rng &rng) {
    const FactTemplate &t = rng.pick(templates());
    const std::string &name = rng.pick(names());
    const std::string &answer = rng.pick(t.answers);
    return {fill(t.sentence, name, answer), fill(t.question, name, answer), answer};
}

}  // namespace cab_eval
