"""What people write in the demo history: a small phrase bank per kind of story.

Placeholders: {first} the customer's first name, {item} a product name as it reads
mid-sentence ({Item} at the start of a subject), {order} the order id; {amount} is
filled in when the history runs (the refund's exact amount, as the refund page shows
it). Pure data.
"""

from __future__ import annotations

# kind -> (subjects, descriptions)
OPENERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "damaged": (
        ("{Item} arrived broken", "Damaged {item} in order {order}", "{Item} cracked in the box",
         "Parcel arrived crushed, {item} damaged", "Broken {item}"),
        ("The {item} from order {order} arrived broken. The box looked fine, but inside it was all in pieces.",
         "Unpacked order {order} today and found a crack running down the side of the {item}. I can send photos.",
         "The parcel was dented and the {item} inside did not survive. The rest of the order is fine.",
         "Hi, the {item} came chipped along the rim. Not usable like this, unfortunately."),
    ),
    "wrong": (
        ("Wrong item in order {order}", "Received something else instead of the {item}", "{Item} missing, got a different product"),
        ("I ordered the {item} but the box contained a different product. Order {order}.",
         "The label says {item} but what is inside is not what I ordered. Could you sort this out?",
         "Order {order} arrived today, but instead of the {item} there was something I never ordered."),
    ),
    "missing": (
        ("{Item} missing from my parcel", "Order {order} incomplete", "Only part of order {order} arrived"),
        ("The parcel for order {order} arrived, but there was no {item} in it. The packing slip lists it.",
         "Everything arrived except the {item}. Do you ship parts of an order separately?",
         "I checked the box twice: no {item}. The rest of order {order} is there."),
    ),
    "changed_mind": (
        ("Return the {item}", "I'd like to send the {item} back", "Return request for order {order}"),
        ("The {item} turned out not to be what I expected. Unused and still in the box; how do I return it?",
         "I bought the {item} as a gift but we already have one. Can I return it for a refund?",
         "I would like to return the {item} from order {order}. Never used."),
    ),
    "not_as_described": (
        ("{Item} not as described", "{Item} smaller than shown", "Question about the quality of the {item}"),
        ("What arrived looks nothing like the photos of the {item} on the product page: the colour is much darker.",
         "The {item} turned out much smaller than the product page suggests.",
         "The quality of the {item} is much lower than described; the finish is already coming off."),
    ),
    "late_damage": (
        ("{Item} broke after a few weeks", "Problem with my {item}", "{Item} cracked after a few weeks"),
        ("The {item} from order {order} worked fine at first but broke this week. What can you do?",
         "I only unpacked the {item} now and found it damaged. I know it has been a while since delivery.",
         "After a few weeks of normal use the {item} cracked. Is this covered?"),
    ),
    "question": (
        ("How do I descale the {item}?", "Cleaning the {item}"),
        ("Could you tell me how to descale the {item}? The leaflet only covers the basics.",
         "There is a white film inside the {item}. How do I get rid of it?"),
    ),
    "dishwasher": (
        ("{Item}: dishwasher safe?", "Care instructions for the {item}"),
        ("Quick question about the {item} from order {order}: dishwasher or hand wash only?",
         "Before I use the {item} for the first time: dishwasher or hand wash only?"),
    ),
    "invoice": (
        ("Invoice for order {order}", "VAT invoice needed"),
        ("I need an invoice with my company's VAT number for order {order}. Can you issue one?",
         "Could you send me a proper invoice for order {order}? The confirmation email is not enough for my accountant."),
    ),
    "double_charge": (
        ("Charged twice for order {order}?", "Two payments on my statement"),
        ("My bank statement shows two charges for order {order}. Could you check?",
         "I see the amount for order {order} twice on my card. Was I charged double?"),
    ),
    "where": (
        ("Where is my order {order}?", "Order {order} not arrived yet", "Tracking not updating for {order}"),
        ("Order {order} shipped a few days ago but the tracking has not moved since. Any news?",
         "I was expecting order {order} by now. Can you check where it is?",
         "The tracking page for order {order} just says 'in transit'. Is it stuck?"),
    ),
    "lost": (
        ("Order {order} never arrived", "Parcel lost? Order {order}", "Still waiting for order {order}"),
        ("It has been weeks and order {order} has still not arrived. The tracking stopped updating long ago.",
         "My order {order} seems to be lost. Nothing has arrived and the carrier cannot tell me anything."),
    ),
    "late_delivery": (
        ("Order {order} took almost two weeks", "Very late delivery of {order}"),
        ("Order {order} finally arrived, but eleven days after I ordered. I needed the {item} for a birthday.",
         "Everything arrived in the end, but far later than the 2-4 days promised at checkout."),
    ),
    "address": (
        ("Change delivery address for {order}", "Wrong address on order {order}"),
        ("I just placed order {order} and noticed the old address is on it. Can you still change it?",
         "Please ship order {order} to my work address instead; I am not at home this week."),
    ),
}

FIRST_REPLY = {
    "damaged": ("Hi {first}, sorry about that! You can request a refund for the damaged {item} right from this case (Request a refund), and I'll take care of it.",
                "Thanks for letting us know, {first}. That should not happen: request a refund for the {item} from this case and we'll make it right."),
    "wrong": ("Hi {first}, apologies for the mix-up in the warehouse. Please request a refund for the {item} from this case; shipping is included for errors on our side.",
              "Sorry {first}, that's our mistake. Keep the other item, no need to send it back; I'll arrange the rest."),
    "missing": ("Hi {first}, sorry about the missing {item}. I've checked the packing record: it should have been in the box. Please request a refund for it from this case.",
                "Thanks {first}. Nothing of your order was shipped separately, so the {item} is missing from the parcel. Request a refund here and I'll take care of it."),
    "changed_mind": ("Hi {first}, no problem. Please send the {item} back unused in its original packaging and request the refund from this case.",
                     "Hi {first}, returns are fine within 14 days of delivery. Send it back to our warehouse and we refund once it arrives."),
    "not_as_described": ("Hi {first}, thanks for the feedback on the {item}. I've passed it on to the product team.",
                         "Sorry the {item} disappointed you, {first}. If you'd like your money back, request a refund from this case and tell us what is different."),
    "late_damage": ("Hi {first}, sorry to hear that. The 14-day refund window has passed, but let me see what we can do.",
                    "Thanks {first}. That is outside our refund window, but the {item} should not have broken this quickly. One moment."),
    "question": ("Hi {first}! Fill it with water and a spoon of citric acid, let it stand for 20 minutes, then rinse twice with clean water.",
                 "Hi {first}, that is limescale. A mix of water and vinegar, left for half an hour, takes it off; rinse well afterwards."),
    "dishwasher": ("Hi {first}, the top rack of the dishwasher is fine, but hand washing keeps the finish new for longer.",
                   "Hi {first}, hand wash only, please: the dishwasher dulls the finish."),
    "invoice": ("Hi {first}, I've attached an invoice with your VAT number. Let me know if anything needs changing.",),
    "double_charge": ("Hi {first}, the second line is a pre-authorisation from your bank; it disappears within a few days. You were charged once.",),
    "where": ("Hi {first}, the carrier shows the parcel at the regional depot. It should be out for delivery within two working days.",
              "Hi {first}, I've asked the carrier for an update. There was a backlog at their hub this week."),
    "lost": ("Hi {first}, I'm sorry. I've opened an investigation with the carrier; they usually answer within two days.",),
    "late_delivery": ("Hi {first}, I'm sorry it took so long. The carrier had delays in your region that week.",),
    "address": ("Hi {first}, I've updated the address on the order before it left the warehouse.",
                "Hi {first}, caught it just in time: the new address is on the shipping label now."),
}

# The first answer when the agent needs a photo first, or when the customer already asked for the refund.
ASK_PHOTO = ("Hi {first}, I'm sorry the {item} arrived damaged. Could you send a photo of it and the box? Then request the refund from this case and I'll approve it.",)
REQUEST_SEEN = ("Hi {first}, sorry about the {item}. I can see your refund request and will look at it today.",
                "Thanks {first}, your refund request is with us; you'll hear back within a day.")

CUSTOMER_FOLLOW_UP = {
    "damaged": ("Photos attached: the crack is on the left side, and the box has a dent in the corner.",
                "Here you go, two photos of the damage.", "I've added a photo. Thanks for the quick answer!"),
    "wrong": ("Thanks, I've requested the refund now.", "Great, thank you for sorting it."),
    "missing": ("OK, thank you. A refund is fine for me.", "Could you just refund it? I don't need it any more."),
    "changed_mind": ("Sent it back today, tracking number is in the shipping confirmation.", "Thanks, I'll post it tomorrow."),
    "not_as_described": ("The colour is very different and it feels flimsy. I'd like my money back.",
                         "It is much smaller than the product photo suggests."),
    "late_damage": ("Thank you, I appreciate it.", "That would be great, thanks."),
    "where": ("Thanks, still nothing today though.", "OK, I'll wait a couple more days."),
    "lost": ("Any news from the carrier?", "Still nothing here, unfortunately."),
    "question": ("Thanks, that helped!", "Perfect, thank you."),
    "dishwasher": ("Good to know, thanks!", "Perfect, thank you."),
    "invoice": ("Got it, thanks!", "Thank you, that's all I needed."),
    "double_charge": ("Ah, I see it's gone now. Thanks!", "OK, I'll keep an eye on it. Thank you."),
}

NOTES = {
    "damaged": ("Third breakage report for this SKU this month; flagged to the warehouse.",
                "Photos confirm transit damage. Claim filed with the carrier.", "Customer has ordered before without issues."),
    "wrong": ("Pick error: bin labels for these two SKUs are swapped. Warehouse informed.",),
    "missing": ("Packing weight was 300 g under the expected weight: the item was never packed.",),
    "changed_mind": ("Return received at the warehouse, item unused.",),
    "not_as_described": ("Product page photo is of the old batch; asked marketing to update it.",),
    "late_damage": ("Out of window by a few weeks. Suggest store credit as goodwill.",),
    "lost": ("Carrier confirms the parcel is lost. Claim reference on the carrier portal.",),
    "failed": ("Gateway declined the refund; the customer's card was probably replaced.",
               "Decline from the card issuer, not from us. Retry or pay out by bank transfer."),
}

DECISION_REPLY = {
    "refunded": ("Your refund of {amount} is on its way; it usually shows on your statement within 3-5 working days.",
                 "Done: {amount} has been refunded to your original payment method."),
    "declined": ("Your bank declined the refund to your card. Has the card been replaced recently? We will try again.",
                 "The refund to your card did not go through (declined by the card issuer). We'll sort this out."),
    "declined_for_good": ("Your bank did not accept the refund to your card.",
                          "The refund to your card was declined by your bank."),
    "retry_ok": ("We tried again and this time the refund of {amount} went through.",),
    "bank_details": ("The card the order was paid with no longer accepts refunds. Could you send us your bank details for a transfer?",),
    "bank_sent": ("Here are my bank details. The old card was closed last month.",),
    "transfer": ("We sent {amount} by bank transfer; it should arrive within two working days.",),
    "replacement": ("A replacement is on its way to you at no cost; you'll get the tracking number by email.",),
    "store_credit": ("We've added {amount} as store credit to your account; it is ready to use at checkout.",),
    "goodwill": ("As an apology we've sent you {amount}; we hope that makes up for it.",),
}

CLOSE_CUSTOMER = ("Thanks, all sorted!", "Received, thank you for the help.", "All good now, thanks.")

REFUND_NOTES = {
    "damaged": ("Crack along the side, see the photos in the case.", "Arrived in pieces.", ""),
    "wrong_item": ("Received a different product.", ""),
    "not_received": ("Never arrived in the parcel.", ""),
    "changed_mind": ("Unused, sent back in its box.", ""),
    "not_as_described": ("Not what the product page shows.", ""),
}

# Why a request is turned down, by kind of story: (reject code, what the customer is told).
REJECTIONS = {
    "damaged": ("no_evidence", ("We could not see any damage on the photos you sent, so we cannot refund this item. "
                                "Please reply if we missed something.",)),
    "missing": ("other", ("The warehouse weighed your parcel before it left and it weighed what the whole order should, "
                          "so we cannot refund the {item}. Please check with your neighbours and reply if it still has not turned up.",)),
    "not_as_described": ("outside_policy", ("We compared the {item} with its product page (size, colour and photos) and "
                                            "found no difference, so this is not a fault we refund. You can still return it unused within 14 days of "
                                            "delivery as a change of mind.",)),
    "changed_mind": ("item_not_returned", ("We have not received the item back at our warehouse yet. Once it arrives, "
                                           "request the refund again and we'll approve it.",)),
    "changed_mind_food": ("outside_policy", ("Opened food and drink products cannot be returned for hygiene reasons, so "
                                             "this one is outside our refund policy. Sorry!",)),
}

# What the agent notes on a settlement, by kind and circumstance (same-sized alternatives).
SETTLEMENT_NOTES = {
    "store_credit": ("Customer preferred store credit over a card refund.",
                     "Store credit instead of a card refund, as the customer asked."),
    "store_credit_late": ("Outside the refund window; store credit agreed with the customer.",
                          "Past the 14 days; store credit as a goodwill gesture."),
    "replacement": ("Replacement shipped from the warehouse, no charge.", "New unit sent; customer keeps the faulty one."),
    "replacement_lost": ("Replacement order shipped, no charge.", "Sent the whole order again at no cost."),
    "manual_transfer": ("Card refund declined; paid out by bank transfer to the account the customer gave us.",
                        "The card no longer takes refunds; paid out by bank transfer instead."),
    "manual_transfer_lost": ("Parcel lost by the carrier: paid out by bank transfer.",
                             "Carrier confirmed the loss; the order was paid back by bank transfer."),
    "goodwill": ("Goodwill gesture for the late delivery.", "Small goodwill payment for the wait; customer keeps the order."),
    "goodwill_damage": ("Partial refund as goodwill; customer keeps the item.",
                        "Goodwill for an item that broke after the window; customer keeps it."),
}
