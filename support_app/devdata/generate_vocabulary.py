"""The words and weights of the large generated dataset (devdata/generate.py): names,
products and prices, currencies, case categories and priorities with their weights,
subjects, message texts, refund reasons, rejections, settlements and gateway declines."""

from __future__ import annotations

FIRST = (
    "Emma Liam Olivia Noah Ava Elijah Sophia Lucas Mia Mateo Amelia Leo Isla Hugo Chloe Oscar Zoe Felix Nora Jonas "
    "Lena Finn Clara Elias Ida Theo Hanna Emil Alma Anton Greta Oskar Lotta Paul Marie Jan Lea Max Julia Ben "
    "Sara Luca Alice Tom Eva David Nina Adam Laura Simon Anna Victor Elena Marco Sofia Pablo Lucia Diego Carmen Ivan "
    "Maya Omar Leila Yusuf Aisha Ravi Priya Arjun Meera Kenji Yuki Hiro Mei Chen Li Wei Jin Tariq Fatima Samir "
    "Ines Hector Rosa Bruno Irene Carlos Marta Andre Helena Rui Joana Nils Freya Erik Astrid Lars Ingrid Sven Tove"
).split()
LAST_A = (
    "Ander Berg Carl Dahl Eck Falk Gold Hart Is Jo Kirch Lind Mo Nord Ost Peder Quist Ros Stahl Thal Ul Vik Wester Yng Zell"
).split()
LAST_B = (
    "son sen man mann berg gren ström dal holm qvist lund wall ing feld stein bach hoff quist sted by"
).split()
LAST_B = [b.replace("ö", "o") for b in LAST_B]
DOMAINS = ("mail.example", "post.example", "inbox.example", "web.example", "example.org", "example.net")
AGENT_NAMES = [
    ("agent@example.com", "Sam Rivera"), ("agent2@example.com", "Riley Park"), ("agent03@example.com", "Jordan Blake"),
    ("agent04@example.com", "Casey Moreau"), ("agent05@example.com", "Alex Novak"), ("agent06@example.com", "Taylor Jensen"),
    ("agent07@example.com", "Morgan Ruiz"), ("agent08@example.com", "Jamie Okafor"), ("agent09@example.com", "Robin Sato"),
    ("agent10@example.com", "Avery Costa"), ("agent11@example.com", "Quinn Larsen"), ("agent12@example.com", "Drew Fischer"),
    ("agent13@example.com", "Kai Andersson"), ("agent14@example.com", "Reese Moretti"), ("agent15@example.com", "Skyler Haddad"),
    ("agent16@example.com", "Rowan Keller"), ("agent17@example.com", "Emerson Vidal"), ("agent18@example.com", "Hayden Brandt"),
    ("agent19@example.com", "Parker Lindgren"), ("agent20@example.com", "Sage Mendes"),
]
NOUNS = (  # (sku stem, name, base price in minor units)
    ("MUG", "ceramic mug", 1200), ("TEA", "tea sampler box", 2500), ("KETTLE", "electric kettle", 4900),
    ("LAMP", "desk lamp", 3900), ("CUSH", "cushion cover", 1900), ("THROW", "wool throw", 5900),
    ("VASE", "glass vase", 2900), ("PAN", "frying pan", 3500), ("KNIFE", "chef's knife", 6900),
    ("BOARD", "chopping board", 2200), ("TOWEL", "bath towel", 1500), ("CANDLE", "scented candle", 1400),
    ("BOTTLE", "water bottle", 1800), ("BAG", "tote bag", 2400), ("HEADPH", "wireless headphones", 8900),
    ("CABLE", "charging cable", 1290), ("SPEAKER", "bluetooth speaker", 4990), ("PLANT", "plant pot", 1650),
)
ADJECTIVES = (("BLUE", "Blue"), ("GRN", "Green"), ("BLK", "Black"), ("WHT", "White"), ("RED", "Red"), ("OAK", "Oak"), ("GRY", "Grey"))
PRODUCTS = [
    (f"{stem}-{code}", f"{adj} {name}", base + 100 * ((i * 7 + j * 3) % 9) - 400 if base > 2000 else base)
    for i, (stem, name, base) in enumerate(NOUNS)
    for j, (code, adj) in enumerate(ADJECTIVES)
]
CURRENCIES = (("EUR", (19, 20, 21)), ("GBP", (20,)), ("USD", (0, 7, 8)))
SYMBOL = {"EUR": "€", "GBP": "£", "USD": "$"}

CATEGORIES = ("damaged_item", "wrong_item", "missing_item", "delivery", "billing", "return_refund", "other")
CAT_WEIGHTS = (18, 10, 10, 24, 12, 16, 10)  # any case
CAT_WEIGHTS_REFUND = (30, 18, 12, 8, 4, 26, 2)  # a case that gets a refund
PRIORITIES = ("low", "normal", "high", "urgent")
PRIO_WEIGHTS = (15, 60, 20, 5)
SUBJECTS = {
    "damaged_item": ("%s arrived damaged", "Broken %s", "Cracked %s in my parcel", "%s is scratched"),
    "wrong_item": ("Wrong item instead of %s", "Received the wrong %s", "Not the %s I ordered"),
    "missing_item": ("%s missing from my parcel", "Only part of my order arrived (%s)", "Where is my %s?"),
    "delivery": ("Order %s has not arrived", "Delivery of %s is late", "Tracking for %s stopped updating"),
    "billing": ("Charged twice for %s", "Question about my invoice for %s", "Wrong price charged for %s"),
    "return_refund": ("I would like to return the %s", "Refund for %s", "Return label for %s"),
    "other": ("Question about %s", "Help with %s", "Feedback on %s"),
}
DESCRIPTIONS = (
    "Hello, my order %s arrived on time but there is a problem with the %s. Could you please help me?",
    "Hi, I ordered the %s (order %s) and I am not happy with it. What are my options?",
    "Good morning. Regarding order %s: the %s is not what I expected. Please advise.",
    "Dear support, the %s from order %s needs your attention. Photos can be sent if needed.",
    "Hi there, writing about %s. The %s is a gift and I need this sorted before the weekend, thanks!",
)
AGENT_REPLIES = (
    "Thanks for reaching out, I'm sorry about this. I'm looking into it now.",
    "Thank you for your message. Could you send us a photo of the item and the packaging?",
    "Hello, I have checked your order and I will get back to you shortly with a solution.",
    "Sorry for the trouble! I've escalated this with our warehouse team and will update you today.",
)
CUSTOMER_REPLIES = (
    "Thanks, photos attached as requested.",
    "Any news on this? It has been a few days.",
    "Yes, that works for me. Thank you!",
    "The parcel box was also damaged, see the pictures.",
    "I checked with my neighbours, nothing was left with them.",
)
NOTES = (
    "Checked with the warehouse: packing issue on that shift.",
    "Carrier confirms the parcel was scanned at the depot. Waiting for their investigation.",
    "Repeat customer, goodwill is fine if needed.",
    "Photo shows clear transport damage.",
    "Possible duplicate of an earlier contact, verified: it is not.",
)
RESOLUTIONS = (
    "Glad we could sort this out. I'm closing this case now; reply if you need anything else.",
    "Everything should be settled now. Have a great day!",
    "The replacement is on its way. Thanks for your patience.",
)
REASON_BY_CATEGORY = {
    "damaged_item": ("damaged",), "wrong_item": ("wrong_item",), "missing_item": ("not_received", "other"),
    "delivery": ("not_received",), "billing": ("other",), "return_refund": ("changed_mind", "not_as_described", "changed_mind"),
    "other": ("other", "not_as_described"),
}
SHOP_FAULT = ("wrong_item", "not_received")
REFUND_NOTES = ("Box was crushed on arrival.", "Please refund to my card.", "I already sent it back.", "Size was wrong.")
REJECT = (
    ("outside_policy", "Outside our refund policy", "Unfortunately this item is excluded from returns."),
    ("no_evidence", "We could not confirm the problem", "We could not see any damage on the photos you sent."),
    ("item_not_returned", "The item was not returned", "We have not received the item back at our warehouse."),
    ("duplicate", "Duplicate request", "This was already refunded under another request."),
)
SETTLE = (
    ("store_credit", "Store credit"), ("replacement", "Replacement"),
    ("manual_transfer", "Manual transfer"), ("goodwill", "Goodwill gesture"),
)
DECLINES = (
    ("card_expired", "The card used for the payment has expired."),
    ("insufficient_funds", "The issuing bank declined the refund."),
    ("processing_error", "The gateway could not process the refund."),
)
