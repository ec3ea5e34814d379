#![allow(clippy::unwrap_used)]
//! One scenario per process of the domain (`funnels/*.yaml`): the shipped
//! example funnel run by the real binary over a few simulated days, `--now`
//! stepping forward, a few contacts taking different paths. Each asserts
//! who got what when, the stage moves, the staff tasks and escalations.
//!
//! Times are UTC; the funnels' timezone is Europe/Budapest, UTC+2 in
//! summer (so a 09:00 send window opens at 07:00Z) and UTC+1 in winter.

mod common;

use common::Project;
use serde_json::json;

/// Runs a tick at each of `times`, in order.
fn run_each(p: &Project, times: &[&str]) {
    for now in times {
        p.run_at(now);
    }
}

/// No action failed (a template reading a field the contact lacks).
fn assert_nothing_failed(p: &Project) {
    let counts = p.outbox_counts();
    assert!(
        counts.iter().all(|(status, _)| status != "failed"),
        "{counts:?}"
    );
    assert!(!counts.is_empty(), "nothing was queued at all");
}

/// The stage a contact is in now: where its last move took it.
fn stage_of(p: &Project, contact: &str) -> String {
    p.history(contact)
        .last()
        .and_then(|t| t["to_stage"].as_str().map(str::to_string))
        .unwrap_or_default()
}

const QUOTE: &str = "id,email,phone,first_name,owner,quote_requested_at,quote_sent_at,meeting_at,replied,reached,unsubscribed\n";

/// A quote-follow-up contact row: owned by the rep `assistant` (a staff member), asked for a
/// quote on Monday 2026-05-04 at 10:00 in Budapest.
fn quote_row(id: &str, sent: &str, meeting: &str, replied: bool) -> String {
    format!(
        "{id},{id}@example.com,+36 30 123 4567,{id},assistant,2026-05-04 08:00,{sent},{meeting},{replied},no,no\n"
    )
}

#[test]
fn quote_follow_up_reaches_customer_goes_unreachable_or_refuses() {
    let p = Project::with_examples(&["quote-follow-up"]);
    // Monday 10:00 in Budapest: Ann, Bob and Cy ask for a quote.
    let rows = |ann: &str, bob: &str, cy: &str| format!("{QUOTE}{ann}{bob}{cy}");
    p.write(
        "contacts.csv",
        &rows(
            &quote_row("ann", "", "", false),
            &quote_row("bob", "", "", false),
            &quote_row("cy", "", "", false),
        ),
    );
    p.run_at("2026-05-04T08:00:00Z");
    for who in ["ann", "bob", "cy"] {
        assert_eq!(p.sent(who), ["2026-05-04T08:00:00Z email thanks"]);
    }
    assert_eq!(
        p.task_lines(),
        [
            "ann/prepare-quote assistant 2026-05-05T08:00:00Z open",
            "bob/prepare-quote assistant 2026-05-05T08:00:00Z open",
            "cy/prepare-quote assistant 2026-05-05T08:00:00Z open",
        ]
    );

    // Anna ticks Ann's task off in the tool; the CRM reports Bob's as an
    // event. Tuesday morning both quotes are out; Cy's is not, and her
    // overdue task goes to the sales lead.
    p.task_done(p.task_id("ann", "prepare-quote"));
    p.event_with(
        "bob",
        "task.done",
        "2026-05-04T15:00:00Z",
        json!({ "step": "prepare-quote" }),
    );
    p.write(
        "contacts.csv",
        &rows(
            &quote_row("ann", "2026-05-05 08:30", "", false),
            &quote_row("bob", "2026-05-05 08:30", "", false),
            &quote_row("cy", "", "", false),
        ),
    );
    p.run_at("2026-05-05T09:00:00Z");
    assert_eq!(p.escalations(), ["sales-lead: cy/prepare-quote"]);
    assert_eq!(
        p.task_lines(),
        [
            "ann/prepare-quote assistant 2026-05-05T08:00:00Z done",
            "bob/prepare-quote assistant 2026-05-05T08:00:00Z done",
            "cy/prepare-quote assistant 2026-05-05T08:00:00Z open escalated",
        ]
    );

    // Wednesday: Ann answered the quote; Cy's quote is out.
    p.write(
        "contacts.csv",
        &rows(
            &quote_row("ann", "2026-05-05 08:30", "", true),
            &quote_row("bob", "2026-05-05 08:30", "", false),
            &quote_row("cy", "2026-05-06 07:00", "", false),
        ),
    );
    p.run_at("2026-05-06T09:00:00Z");
    // Thursday: Cy says no.
    p.event("cy", "quote.refused", "2026-05-07T12:00:00Z");
    // Friday: Bob has not answered in 3 days: the assistant gets a call
    // task, due in 4 hours, which nobody ticks off.
    p.run_at("2026-05-08T10:00:00Z");
    assert_eq!(stage_of(&p, "cy"), "refused");
    assert!(
        p.task_lines()
            .contains(&"bob/follow-up-call assistant 2026-05-08T13:00:00Z open".to_string()),
        "{:?}",
        p.task_lines()
    );
    assert_eq!(p.escalations(), ["sales-lead: cy/prepare-quote"]);
    p.run_at("2026-05-08T14:00:00Z");
    // Sunday passes without a run; Monday 09:00 in Budapest.
    p.run_at("2026-05-11T07:00:00Z");
    // Tuesday: Bob replies to the missed-call SMS; Ann books a meeting for
    // Friday 10:00.
    p.event("bob", "sms.replied", "2026-05-12T08:00:00Z");
    p.run_at("2026-05-12T08:30:00Z");
    p.event("ann", "meeting.booked", "2026-05-12T10:00:00Z");
    p.write(
        "contacts.csv",
        &rows(
            &quote_row("ann", "2026-05-05 08:30", "2026-05-15 08:00", true),
            &quote_row("bob", "2026-05-05 08:30", "", false),
            &quote_row("cy", "2026-05-06 07:00", "", false),
        ),
    );
    p.run_at("2026-05-12T10:30:00Z");
    p.run_at("2026-05-14T09:00:00Z");
    p.run_at("2026-05-17T09:00:00Z");
    // Monday after the meeting: Anna logs her decision call, Ann orders.
    p.event_with(
        "ann",
        "task.done",
        "2026-05-18T07:15:00Z",
        json!({ "step": "decision-call" }),
    );
    p.event("ann", "order.placed", "2026-05-18T07:30:00Z");
    p.run_at("2026-05-18T09:00:00Z");

    // Ann: answered, so no call; a nudge held over the weekend until
    // Monday 09:00; the meeting confirmed, reminded the day before, and the
    // order makes her a customer.
    assert_eq!(
        p.sent("ann"),
        [
            "2026-05-04T08:00:00Z email thanks",
            "2026-05-11T07:00:00Z email quote-nudge",
            "2026-05-12T10:00:00Z email meeting-confirm",
            "2026-05-14T08:00:00Z sms meeting-reminder",
            "2026-05-18T07:30:00Z webhook deal-won-crm",
        ]
    );
    assert_eq!(
        p.moves("ann"),
        [
            "2026-05-04T08:00:00Z enter - -> requested",
            "2026-05-05T09:00:00Z goal requested/quote-overdue -> quoted",
            "2026-05-06T09:00:00Z wait-yes quoted/await-answer -> quoted/quote-nudge",
            "2026-05-12T10:00:00Z goal quoted/quote-last-chance -> meeting",
            "2026-05-18T07:30:00Z goal meeting/decision-call -> customer",
        ]
    );
    // Bob: no answer in 3 days -> a call task (escalated when overdue);
    // not reached in 2 days -> unreachable, an SMS on Monday; his reply
    // gets him a callback task, escalated too; no meeting in 5 days -> lost.
    assert_eq!(
        p.moves("bob"),
        [
            "2026-05-04T08:00:00Z enter - -> requested",
            "2026-05-05T09:00:00Z goal requested/quote-overdue -> quoted",
            "2026-05-08T09:00:00Z wait-no quoted/await-answer -> quoted/follow-up-call",
            "2026-05-10T09:00:00Z wait-no quoted/follow-up-call -> unreachable",
            "2026-05-12T08:00:00Z wait-yes unreachable/missed-call-sms -> unreachable/callback",
            "2026-05-17T08:00:00Z exhausted unreachable -> lost",
        ]
    );
    assert_eq!(
        p.sent("bob"),
        [
            "2026-05-04T08:00:00Z email thanks",
            "2026-05-08T13:00:00Z notify follow-up-call",
            "2026-05-10T09:00:00Z tag mark-unreachable",
            "2026-05-11T07:00:00Z sms missed-call-sms",
            "2026-05-12T10:00:00Z notify callback",
            "2026-05-17T08:00:00Z webhook deal-lost-crm",
        ]
    );
    // Cy: refused the quote; nothing after that but recording why.
    assert_eq!(
        p.moves("cy"),
        [
            "2026-05-04T08:00:00Z enter - -> requested",
            "2026-05-06T09:00:00Z goal requested/quote-overdue -> quoted",
            "2026-05-07T12:00:00Z exit quoted/await-answer -> refused",
        ]
    );
    assert_eq!(
        p.sent("cy"),
        [
            "2026-05-04T08:00:00Z email thanks",
            "2026-05-05T08:00:00Z notify prepare-quote",
            "2026-05-07T12:00:00Z set mark-refused",
        ]
    );
    assert_eq!(
        p.payload("cy", "mark-refused")["fields"],
        json!({ "lost_reason": "refused" })
    );
    // Tasks done by the tool or by an event never escalate; the others
    // escalate once each, however many runs see them overdue.
    assert_eq!(
        p.task_lines(),
        [
            "ann/decision-call assistant 2026-05-18T08:00:00Z done",
            "ann/prepare-quote assistant 2026-05-05T08:00:00Z done",
            "bob/callback assistant 2026-05-12T10:00:00Z open escalated",
            "bob/follow-up-call assistant 2026-05-08T13:00:00Z cancelled escalated",
            "bob/prepare-quote assistant 2026-05-05T08:00:00Z done",
            "cy/prepare-quote assistant 2026-05-05T08:00:00Z cancelled escalated",
        ]
    );
    assert_eq!(
        p.escalations(),
        [
            "sales-lead: cy/prepare-quote",
            "sales-lead: bob/follow-up-call",
            "sales-lead: bob/callback",
        ]
    );
    assert_nothing_failed(&p);
}

#[test]
fn quote_follow_up_expires_a_lead_stuck_without_a_meeting_date_after_120_days() {
    let p = Project::with_examples(&["quote-follow-up"]);
    // Dan books a meeting by phone, but nobody enters its date: the
    // reminder and the decision call, timed from `meeting_at`, never fall
    // due. `expire: { after: 120d, to: lost }` is what gets him out.
    p.write(
        "contacts.csv",
        &format!("{QUOTE}{}", quote_row("dan", "", "", false)),
    );
    p.run_at("2026-05-04T08:00:00Z");
    p.event_with(
        "dan",
        "task.done",
        "2026-05-04T16:00:00Z",
        json!({ "step": "prepare-quote" }),
    );
    p.write(
        "contacts.csv",
        &format!("{QUOTE}{}", quote_row("dan", "2026-05-05 08:30", "", true)),
    );
    p.run_at("2026-05-05T09:00:00Z");
    p.event("dan", "meeting.booked", "2026-05-07T10:00:00Z");
    run_each(
        &p,
        &[
            "2026-05-07T11:00:00Z",
            "2026-07-01T09:00:00Z",
            "2026-09-01T07:59:00Z",
        ],
    );
    assert_eq!(stage_of(&p, "dan"), "meeting");
    p.run_at("2026-09-01T09:00:00Z");
    assert_eq!(
        p.moves("dan"),
        [
            "2026-05-04T08:00:00Z enter - -> requested",
            "2026-05-05T09:00:00Z goal requested/quote-overdue -> quoted",
            "2026-05-05T09:00:00Z wait-yes quoted/await-answer -> quoted/quote-nudge",
            "2026-05-07T10:00:00Z goal quoted/quote-nudge -> meeting",
            "2026-09-01T08:00:00Z exit meeting/meeting-reminder -> lost",
        ]
    );
    let expired = &p.history("dan")[4];
    assert!(
        expired["reason"].as_str().unwrap().starts_with("expire: "),
        "{expired}"
    );
    assert_eq!(
        p.sent("dan"),
        [
            "2026-05-04T08:00:00Z email thanks",
            "2026-05-07T10:00:00Z email meeting-confirm",
            "2026-09-01T08:00:00Z webhook deal-lost-crm",
        ]
    );
    // Expired once: a later run changes nothing.
    p.run_at("2026-09-02T09:00:00Z");
    assert_eq!(p.moves("dan").len(), 5);
    assert_nothing_failed(&p);
}

const APPOINTMENT: &str =
    "id,first_name,email,phone,appointment_at,service_name,location,map_url,rating,unsubscribed\n";

/// An appointments contact row: a physiotherapy slot at `at` (UTC).
fn appointment_row(id: &str, at: &str, rating: &str, unsubscribed: bool) -> String {
    format!(
        "{id},{id},{id}@example.com,+36 30 765 4321,{at},Physiotherapy,Budapest Kossuth tér 1,https://maps.example.com/k1,{rating},{unsubscribed}\n"
    )
}

#[test]
fn appointments_confirm_remind_and_follow_up_visits_no_shows_and_cancellations() {
    let p = Project::with_examples(&["appointments"]);
    let contacts = |rows: &[(&str, &str, &str, bool)]| {
        let mut text = APPOINTMENT.to_string();
        for (id, at, rating, unsubscribed) in rows {
            text.push_str(&appointment_row(id, at, rating, *unsubscribed));
        }
        p.write("contacts.csv", &text);
    };
    // Monday 2026-06-01: six bookings for Thursday and Friday.
    let mut rows = vec![
        ("dora", "2026-06-04 08:00", "", false),
        ("eve", "2026-06-04 09:00", "", false),
        ("ivy", "2026-06-04 10:00", "", false),
        ("finn", "2026-06-05 12:00", "", false),
        ("gil", "2026-06-05 13:00", "", false),
        ("hana", "2026-06-05 14:00", "", false),
    ];
    contacts(&rows);
    for (i, (id, ..)) in rows.iter().enumerate() {
        p.event(
            id,
            "appointment.booked",
            &format!("2026-06-01T09:{}0:00Z", i),
        );
    }
    p.run_at("2026-06-01T10:00:00Z");
    // Tuesday: Gil cancels. Wednesday: the reminders, and Hana texts STOP.
    p.event("gil", "appointment.cancelled", "2026-06-02T10:00:00Z");
    p.run_at("2026-06-02T12:00:00Z");
    p.run_at("2026-06-03T08:30:00Z");
    p.run_at("2026-06-03T12:00:00Z");
    p.event("hana", "sms.stop", "2026-06-03T13:00:00Z");
    p.run_at("2026-06-03T16:00:00Z");
    // Thursday: Dora, Eve and Ivy come; reception marks them.
    p.event("dora", "appointment.attended", "2026-06-04T08:05:00Z");
    p.event("eve", "appointment.attended", "2026-06-04T09:05:00Z");
    p.event("ivy", "appointment.attended", "2026-06-04T10:05:00Z");
    p.run_at("2026-06-04T12:00:00Z");
    // Dora rates 5 stars, Eve 2; Ivy never rates.
    rows[0].2 = "5";
    rows[1].2 = "2";
    contacts(&rows);
    p.run_at("2026-06-04T15:00:00Z");
    // Friday: Finn does not come.
    p.run_at("2026-06-05T16:00:00Z");
    // Saturday: Dora buys the upsell; Finn taps the SMS link, the front
    // desk calls him and he books again for next Wednesday.
    p.event("dora", "upsell.purchased", "2026-06-06T09:00:00Z");
    p.event("finn", "sms.clicked", "2026-06-06T10:00:00Z");
    p.run_at("2026-06-06T12:00:00Z");
    p.task_done(p.task_id("finn", "rebook-call"));
    // The booking system's export has the new date by 14:00 (a run reads
    // it then); the booking event itself is stamped 15:00. A row's values
    // count from the run that reads them, so the export must be read
    // before the booking's moment for the new journey to see the new date.
    rows[3].1 = "2026-06-10 12:00";
    contacts(&rows);
    p.run_at("2026-06-06T14:00:00Z");
    p.event("finn", "appointment.booked", "2026-06-06T15:00:00Z");
    // The journey ends in this run; the next run, minutes later, starts
    // the new one.
    run_each(
        &p,
        &[
            "2026-06-06T16:00:00Z",
            "2026-06-06T16:05:00Z",
            "2026-06-09T13:00:00Z",
        ],
    );

    // Dora: confirmed, reminded the day before, asked for a rating 3 hours
    // after the visit; 5 stars -> the upsell, which she buys.
    assert_eq!(
        p.sent("dora"),
        [
            "2026-06-01T10:00:00Z email booking-confirm",
            "2026-06-03T08:00:00Z messenger day-before-reminder",
            "2026-06-04T11:05:00Z sms rating-request",
            "2026-06-04T15:00:00Z email upsell-offer",
        ]
    );
    assert_eq!(
        p.moves("dora"),
        [
            "2026-06-01T10:00:00Z enter - -> booked",
            "2026-06-04T08:05:00Z goal booked/attendance-deadline -> visited",
            "2026-06-04T15:00:00Z wait-yes visited/rating-request -> visited/rating-check",
            "2026-06-04T15:00:00Z branch-yes visited/rating-check -> visited/upsell-offer",
            "2026-06-06T09:00:00Z goal visited/upsell-offer -> upsold",
        ]
    );
    // Eve: 2 stars -> no upsell; the practice manager gets a call task,
    // which, not done in a day, escalates to the practice owner.
    assert_eq!(
        p.sent("eve"),
        [
            "2026-06-01T10:00:00Z email booking-confirm",
            "2026-06-03T09:00:00Z messenger day-before-reminder",
            "2026-06-04T12:05:00Z sms rating-request",
            "2026-06-05T15:00:00Z notify low-rating-call",
        ]
    );
    assert_eq!(
        p.moves("eve")[2..],
        [
            "2026-06-04T15:00:00Z wait-yes visited/rating-request -> visited/rating-check",
            "2026-06-04T15:00:00Z branch-no visited/rating-check -> visited/low-rating-call",
            "2026-06-04T15:00:00Z exhausted visited -> done",
        ]
    );
    // Ivy: no rating within 2 days -> done, no upsell.
    assert_eq!(
        p.moves("ivy")[1..],
        [
            "2026-06-04T10:05:00Z goal booked/attendance-deadline -> visited",
            "2026-06-06T13:05:00Z wait-no visited/rating-request -> done",
        ]
    );
    assert_eq!(p.sent("ivy").len(), 3, "{:?}", p.sent("ivy"));
    // Finn: nobody marked him 2 hours after the slot -> no-show; he taps
    // the SMS link, the front desk calls, he books again. The new booking
    // is its own journey: confirmed and reminded like the first.
    assert_eq!(
        p.moves("finn"),
        [
            "2026-06-01T10:00:00Z enter - -> booked",
            "2026-06-05T14:00:00Z exhausted booked -> no-show",
            "2026-06-06T10:00:00Z wait-yes no-show/missed-you -> no-show/rebook-call",
            "2026-06-06T15:00:00Z goal no-show/rebook-close -> rebooked",
            "2026-06-06T15:00:00Z enter - -> booked",
        ]
    );
    assert_eq!(p.history("finn")[4]["entry"], 2);
    assert_eq!(
        p.sent("finn"),
        [
            "2026-06-01T10:00:00Z email booking-confirm",
            "2026-06-04T12:00:00Z messenger day-before-reminder",
            "2026-06-05T14:00:00Z sms missed-you",
            "2026-06-06T15:00:00Z email booking-confirm",
            "2026-06-09T12:00:00Z messenger day-before-reminder",
        ]
    );
    // Gil cancelled and Hana opted out before their reminders.
    assert_eq!(
        p.sent("gil"),
        ["2026-06-01T10:00:00Z email booking-confirm"]
    );
    assert_eq!(
        p.moves("gil")[1],
        "2026-06-02T10:00:00Z exit booked/day-before-reminder -> cancelled"
    );
    assert_eq!(
        p.sent("hana"),
        ["2026-06-01T10:00:00Z email booking-confirm"]
    );
    assert_eq!(
        p.moves("hana")[1],
        "2026-06-03T13:00:00Z exit booked/day-before-reminder -> opted-out"
    );
    assert_eq!(
        p.task_lines(),
        [
            "eve/low-rating-call practice-manager 2026-06-05T15:00:00Z open escalated",
            "finn/rebook-call front-desk 2026-06-06T14:00:00Z done",
        ]
    );
    assert_eq!(p.escalations(), ["practice-owner: eve/low-rating-call"]);
    assert_nothing_failed(&p);
}

const COLLECTIONS: &str =
    "id,email,phone,first_name,invoice_due_at,amount_due,pay_link,paid,unsubscribed\n";

fn collections_row(id: &str, due: &str, paid: bool, unsubscribed: bool) -> String {
    format!(
        "{id},{id}@example.com,+36 20 555 0101,{id},{due},EUR 29.00,https://pay.example.com/{id},{paid},{unsubscribed}\n"
    )
}

#[test]
fn collections_chase_by_email_sms_and_call_until_paid_suspended_or_cancelled() {
    let p = Project::with_examples(&["collections"]);
    let contacts = |rows: &[(&str, &str, bool, bool)]| {
        let mut text = COLLECTIONS.to_string();
        for (id, due, paid, unsubscribed) in rows {
            text.push_str(&collections_row(id, due, *paid, *unsubscribed));
        }
        p.write("contacts.csv", &text);
    };
    // July's fees were due on Wednesday 2026-07-01 (Pia's a day later).
    let mut rows = vec![
        ("kai", "2026-07-01 00:00", false, false),
        ("lea", "2026-07-01 00:00", false, false),
        ("max", "2026-07-01 00:00", false, false),
        ("nia", "2026-07-01 00:00", false, false),
        ("oli", "2026-07-01 00:00", false, false),
        ("pia", "2026-07-02 00:00", false, false),
    ];
    contacts(&rows);
    // Saturday 09:00 in Budapest: 72 hours after the due date.
    p.run_at("2026-07-04T07:00:00Z");
    p.event("kai", "email.opened", "2026-07-04T10:00:00Z");
    p.run_at("2026-07-04T12:00:00Z");
    // Sunday: Kai pays, Nia cancels, Oli unsubscribes.
    rows[0].2 = true;
    rows[4].3 = true;
    contacts(&rows);
    p.event("nia", "subscription.cancelled", "2026-07-05T09:00:00Z");
    p.run_at("2026-07-05T10:00:00Z");
    p.run_at("2026-07-06T07:30:00Z");
    p.event("lea", "sms.clicked", "2026-07-06T12:00:00Z");
    rows[5].2 = true;
    contacts(&rows);
    run_each(
        &p,
        &[
            "2026-07-06T13:00:00Z",
            "2026-07-07T13:00:00Z",
            "2026-07-08T08:00:00Z",
            "2026-07-08T13:00:00Z",
        ],
    );
    rows[1].2 = true;
    contacts(&rows);
    run_each(
        &p,
        &[
            "2026-07-09T10:00:00Z",
            "2026-07-13T08:00:00Z",
            "2026-07-14T08:00:00Z",
            "2026-07-20T08:00:00Z",
        ],
    );
    // August: Kai's new fee is overdue again; Max is still suspended.
    rows = vec![
        ("kai", "2026-08-01 00:00", false, false),
        ("lea", "2026-08-01 00:00", true, false),
        ("max", "2026-07-01 00:00", false, false),
    ];
    contacts(&rows);
    p.run_at("2026-08-04T07:00:00Z");

    // Kai opened the reminder and paid: thanked on Monday 08:00 (the
    // window is closed on Sunday). In August he is overdue again.
    assert_eq!(
        p.sent("kai"),
        [
            "2026-07-04T07:00:00Z email pay-reminder",
            "2026-07-06T06:00:00Z email payment-thanks",
            "2026-08-04T07:00:00Z email pay-reminder",
        ]
    );
    assert_eq!(
        p.moves("kai"),
        [
            "2026-07-04T07:00:00Z enter - -> overdue",
            "2026-07-04T10:00:00Z wait-yes overdue/pay-reminder -> overdue/opened-unpaid",
            "2026-07-05T10:00:00Z goal overdue/opened-unpaid -> paid",
            "2026-08-04T07:00:00Z enter - -> overdue",
        ]
    );
    // Lea: email unopened for 2 days -> SMS; clicked but unpaid a day
    // later -> the collections team calls (escalated when overdue); paid.
    assert_eq!(
        p.moves("lea")[1..],
        [
            "2026-07-06T07:00:00Z wait-no overdue/pay-reminder -> overdue/pay-sms",
            &format!(
                "2026-07-06T07:00:00Z split overdue/pay-sms -> overdue/{}",
                variant(&p, "lea")
            ),
            "2026-07-06T12:00:00Z wait-yes overdue/pay-sms -> overdue/clicked-unpaid",
            "2026-07-07T12:00:00Z wait-no overdue/clicked-unpaid -> overdue/collections-call",
            "2026-07-09T10:00:00Z goal overdue/collections-call -> paid",
        ]
    );
    assert_eq!(
        p.sent("lea"),
        [
            "2026-07-04T07:00:00Z email pay-reminder",
            "2026-07-06T07:00:00Z sms pay-sms",
            "2026-07-08T12:00:00Z notify collections-call",
            "2026-07-09T10:00:00Z email payment-thanks",
        ]
    );
    // Max never reacts: SMS, final notice at 09:00, a call, suspension;
    // in August the 25-day reentry gap keeps him out.
    assert_eq!(
        p.moves("max")[2..],
        [
            &format!(
                "2026-07-06T07:00:00Z split overdue/pay-sms -> overdue/{}",
                variant(&p, "max")
            ),
            "2026-07-08T07:00:00Z wait-no overdue/pay-sms -> overdue/final-notice",
            "2026-07-13T07:00:00Z wait-no overdue/final-notice -> overdue/collections-call",
            "2026-07-20T07:00:00Z wait-no overdue/collections-call -> suspended",
        ]
    );
    assert_eq!(
        p.sent("max"),
        [
            "2026-07-04T07:00:00Z email pay-reminder",
            "2026-07-06T07:00:00Z sms pay-sms",
            "2026-07-08T07:00:00Z email final-notice",
            "2026-07-14T07:00:00Z notify collections-call",
            "2026-07-20T07:00:00Z webhook suspend-account",
            "2026-07-20T07:00:00Z notify suspension-notice",
        ]
    );
    // Each SMS is the wording of the variant its contact was assigned.
    for who in ["lea", "max"] {
        assert_eq!(
            p.payload(who, "pay-sms")["template"],
            format!("collections-sms-{}", variant(&p, who))
        );
    }
    // Nia cancelled, Oli unsubscribed: no SMS for either.
    assert_eq!(
        p.sent("nia"),
        [
            "2026-07-04T07:00:00Z email pay-reminder",
            "2026-07-05T09:00:00Z webhook cancellation-crm",
        ]
    );
    assert_eq!(p.sent("oli"), ["2026-07-04T07:00:00Z email pay-reminder"]);
    assert_eq!(
        p.moves("oli")[1],
        "2026-07-05T10:00:00Z exit overdue/pay-reminder -> opted-out"
    );
    // Pia's fee was due a day later: not chased before 72 hours had passed.
    assert_eq!(
        p.moves("pia"),
        [
            "2026-07-05T00:00:01Z enter - -> overdue",
            "2026-07-06T13:00:00Z goal overdue/pay-reminder -> paid",
        ]
    );
    assert_eq!(
        p.sent("pia"),
        [
            "2026-07-06T06:00:00Z email pay-reminder",
            "2026-07-06T13:00:00Z email payment-thanks",
        ]
    );
    assert_eq!(
        p.escalations(),
        [
            "finance-lead: lea/collections-call",
            "finance-lead: max/collections-call"
        ]
    );
    assert_nothing_failed(&p);
}

/// The A/B variant a contact was assigned, from its history.
fn variant(p: &Project, contact: &str) -> String {
    p.history(contact)
        .iter()
        .find(|t| t["kind"] == "split")
        .and_then(|t| t["to_step"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{contact} was never split"))
}

const DELIVERY: &str = "id,first_name,email,phone,tz,delivery_due,order_ref,unsubscribed\n";

fn delivery_row(id: &str, tz: &str, due: &str, unsubscribed: bool) -> String {
    format!("{id},{id},{id}@example.com,+36 70 222 3344,{tz},{due},ORD-{id},{unsubscribed}\n")
}

#[test]
fn delivery_check_asks_across_dst_thanks_apologises_escalates_and_calls() {
    let p = Project::with_examples(&["delivery-check"]);
    let contacts = |rows: &[(&str, &str, &str, bool)]| {
        let mut text = DELIVERY.to_string();
        for (id, tz, due, unsubscribed) in rows {
            text.push_str(&delivery_row(id, tz, due, *unsubscribed));
        }
        p.write("contacts.csv", &text);
    };
    // Deliveries due on Saturday 2026-10-24; the question goes out on
    // Sunday, the day Budapest falls back from UTC+2 to UTC+1.
    let mut rows = vec![
        ("uma", "", "2026-10-24 08:00", false),
        ("vic", "", "2026-10-24 08:00", false),
        ("wes", "", "2026-10-24 08:00", false),
        ("xan", "", "2026-10-24 08:00", false),
        ("yoko", "America/New_York", "2026-10-24 14:00", false),
    ];
    contacts(&rows);
    run_each(&p, &["2026-10-25T08:30:00Z", "2026-10-25T09:30:00Z"]);
    p.event("uma", "delivery.confirmed", "2026-10-25T10:00:00Z");
    p.event("vic", "delivery.failed", "2026-10-25T11:00:00Z");
    p.event("xan", "delivery.failed", "2026-10-25T12:00:00Z");
    run_each(&p, &["2026-10-25T13:00:00Z", "2026-10-25T14:30:00Z"]);
    p.event("yoko", "sms.stop", "2026-10-25T16:00:00Z");
    run_each(&p, &["2026-10-25T17:00:00Z", "2026-10-26T12:00:00Z"]);
    p.event("vic", "delivery.resolved", "2026-10-26T15:00:00Z");
    run_each(
        &p,
        &[
            "2026-10-26T16:00:00Z",
            "2026-10-27T10:00:00Z",
            "2026-10-27T14:00:00Z",
            "2026-10-28T13:00:00Z",
            "2026-10-29T10:00:00Z",
        ],
    );
    // Uma's next delivery is due on Friday.
    rows[0].2 = "2026-10-30 10:00";
    contacts(&rows);
    run_each(&p, &["2026-10-31T10:30:00Z", "2026-11-01T09:30:00Z"]);

    // 10:00 in Budapest is 09:00 UTC once the clocks went back; in New
    // York (still on summer time) it is 14:00 UTC.
    for who in ["uma", "vic", "wes", "xan"] {
        assert_eq!(p.sent(who)[0], "2026-10-25T09:00:00Z sms arrival-question");
    }
    assert_eq!(
        p.sent("yoko")[0],
        "2026-10-25T14:00:00Z sms arrival-question"
    );
    // Uma said yes: thanked. Her next delivery, a week later, gets its own
    // question (reentry after 1d).
    assert_eq!(
        p.sent("uma"),
        [
            "2026-10-25T09:00:00Z sms arrival-question",
            "2026-10-25T10:00:00Z email delivery-thanks",
            "2026-11-01T09:00:00Z sms arrival-question",
        ]
    );
    assert_eq!(
        p.moves("uma"),
        [
            "2026-10-25T08:30:00Z enter - -> check",
            "2026-10-25T10:00:00Z goal check/arrival-call -> delivered",
            "2026-10-31T10:00:00Z enter - -> check",
        ]
    );
    // Vic said no: apology, the service manager alerted and given the fix,
    // escalated to the director when a day late; then resolved.
    assert_eq!(
        p.sent("vic")[1..],
        [
            "2026-10-25T11:00:00Z sms apology",
            "2026-10-25T11:00:00Z notify alert-manager",
            "2026-10-26T11:00:00Z notify fix-task",
            "2026-10-26T15:00:00Z email resolved-note",
        ]
    );
    assert_eq!(
        p.moves("vic")[1..],
        [
            "2026-10-25T11:00:00Z exit check/arrival-call -> problem",
            "2026-10-26T15:00:00Z goal problem/fix-task -> resolved",
        ]
    );
    // Xan said no and it was never fixed: after 3 days the director hears.
    assert_eq!(
        p.moves("xan")[2],
        "2026-10-28T12:00:00Z wait-no problem/fix-task -> unresolved"
    );
    assert_eq!(
        p.sent("xan")[4],
        "2026-10-28T12:00:00Z notify alert-director"
    );
    assert_eq!(p.payload("xan", "alert-director")["to"], "service-director");
    // Wes never answered: the service desk calls after 2 days (escalated to
    // its supervisor when overdue), and 2 days later he is unconfirmed.
    assert_eq!(
        p.sent("wes"),
        [
            "2026-10-25T09:00:00Z sms arrival-question",
            "2026-10-27T13:00:00Z notify arrival-call",
        ]
    );
    assert_eq!(
        p.moves("wes")[1],
        "2026-10-29T09:00:00Z exhausted check -> unconfirmed"
    );
    // Yoko texted STOP: no call, nothing more.
    assert_eq!(p.sent("yoko").len(), 1);
    assert_eq!(
        p.moves("yoko")[1],
        "2026-10-25T16:00:00Z exit check/arrival-call -> opted-out"
    );
    assert_eq!(
        p.task_lines(),
        [
            "vic/fix-task service-manager 2026-10-26T11:00:00Z cancelled escalated",
            "wes/arrival-call service-desk 2026-10-27T13:00:00Z open escalated",
            "xan/fix-task service-manager 2026-10-26T12:00:00Z cancelled escalated",
        ]
    );
    assert_eq!(
        p.escalations(),
        [
            "service-director: vic/fix-task",
            "service-director: xan/fix-task",
            "service-manager: wes/arrival-call",
        ]
    );
    assert_nothing_failed(&p);
}

const CARE: &str = "id,email,first_name,product,activated_at,unsubscribed\n";

fn care_row(id: &str, activated: &str, unsubscribed: bool) -> String {
    format!("{id},{id}@example.com,{id},Espresso machine,{activated},{unsubscribed}\n")
}

#[test]
fn customer_care_onboards_supports_retains_and_turns_repeat_buyers_into_advocates() {
    let p = Project::with_examples(&["customer-care"]);
    let contacts = |rows: &[(&str, &str, bool)]| {
        let mut text = CARE.to_string();
        for (id, activated, unsubscribed) in rows {
            text.push_str(&care_row(id, activated, *unsubscribed));
        }
        p.write("contacts.csv", &text);
    };
    // Tuesday 2026-09-01: three customers buy.
    let mut rows = vec![("quinn", "", false), ("rae", "", false), ("sam", "", false)];
    contacts(&rows);
    p.event("quinn", "order.placed", "2026-09-01T08:00:00Z");
    p.event("rae", "order.placed", "2026-09-01T08:10:00Z");
    p.event("sam", "order.placed", "2026-09-01T08:20:00Z");
    p.run_at("2026-09-01T08:30:00Z");
    // Quinn sets it up the next day; Sam unsubscribes.
    rows[0].1 = "2026-09-02 09:00";
    rows[2].2 = true;
    contacts(&rows);
    run_each(
        &p,
        &[
            "2026-09-02T10:00:00Z",
            "2026-09-04T08:30:00Z",
            "2026-09-07T08:30:00Z",
        ],
    );
    p.event_with(
        "rae",
        "task.done",
        "2026-09-07T14:00:00Z",
        json!({ "step": "setup-call" }),
    );
    run_each(
        &p,
        &[
            "2026-09-08T10:00:00Z",
            "2026-09-12T10:00:00Z",
            "2026-09-14T08:00:00Z",
            "2026-09-21T08:00:00Z",
            "2026-09-28T08:00:00Z",
            "2026-10-03T08:00:00Z",
            "2026-10-05T09:00:00Z",
        ],
    );
    // Quinn buys again: advocate.
    p.event("quinn", "order.placed", "2026-10-07T09:00:00Z");
    run_each(&p, &["2026-10-07T10:00:00Z", "2026-10-15T09:00:00Z"]);
    p.event("quinn", "referral.sent", "2026-10-16T12:00:00Z");
    run_each(&p, &["2026-10-16T13:00:00Z", "2026-10-26T08:00:00Z"]);
    // Rae, dormant, and Sam, opted out, buy again after the clocks went back.
    p.event("rae", "order.placed", "2026-10-28T09:00:00Z");
    p.event("sam", "order.placed", "2026-10-28T09:30:00Z");
    run_each(
        &p,
        &[
            "2026-10-28T10:00:00Z",
            "2026-10-30T10:00:00Z",
            "2026-11-02T10:00:00Z",
            "2026-11-03T10:00:00Z",
        ],
    );

    // Quinn set it up the next day: straight to the tips (the first held
    // from Saturday to Monday's opening), retention after a quiet week,
    // advocate on her second order, referrer when she refers a friend.
    assert_eq!(
        p.moves("quinn"),
        [
            "2026-09-01T08:30:00Z enter - -> care",
            "2026-09-02T10:00:00Z goal care/howto -> support",
            "2026-09-21T07:00:00Z exhausted support -> retention",
            "2026-10-07T09:00:00Z goal retention/check-in -> advocate",
            "2026-10-16T12:00:00Z goal advocate/advocate-close -> referrer",
        ]
    );
    assert_eq!(
        p.sent("quinn"),
        [
            "2026-09-01T08:30:00Z email welcome",
            "2026-09-07T07:00:00Z email tip-shortcuts",
            "2026-09-14T07:00:00Z email tip-advanced",
            "2026-10-05T08:00:00Z email check-in",
            "2026-10-07T09:00:00Z set mark-advocate",
            "2026-10-07T09:00:00Z email community-invite",
            "2026-10-15T08:00:00Z email referral-ask",
            "2026-10-16T12:00:00Z tag mark-referrer",
            "2026-10-16T12:00:00Z webhook referrer-crm",
        ]
    );
    let crm: serde_json::Value =
        serde_json::from_str(p.payload("quinn", "referrer-crm")["body"].as_str().unwrap()).unwrap();
    assert_eq!(crm["referral_code"], serde_json::Value::Null, "{crm}");
    // Rae never set it up: a call (done, by event), retention without the
    // tips, no reply to the check-in -> the exclusive offer, then dormant.
    // Her next order, after the clocks went back, starts care again: the
    // how-to at 10:00 in Budapest is now 09:00 UTC, and September's
    // `task.done` does not close November's call.
    assert_eq!(
        p.moves("rae"),
        [
            "2026-09-01T08:30:00Z enter - -> care",
            "2026-09-07T08:00:00Z wait-no care/howto -> care/setup-call",
            "2026-09-12T08:00:00Z exhausted care -> retention",
            "2026-10-03T07:00:00Z wait-no retention/check-in -> retention/exclusive-offer",
            "2026-10-26T07:00:00Z exhausted retention -> dormant",
            "2026-10-28T09:00:00Z enter - -> care",
            "2026-11-02T09:00:00Z wait-no care/howto -> care/setup-call",
        ]
    );
    assert_eq!(
        p.sent("rae"),
        [
            "2026-09-01T08:30:00Z email welcome",
            "2026-09-04T08:00:00Z email howto",
            "2026-09-28T07:00:00Z email check-in",
            "2026-10-05T07:00:00Z email exclusive-offer",
            "2026-10-28T09:00:00Z email welcome",
            "2026-10-30T09:00:00Z email howto",
            "2026-11-03T09:00:00Z notify setup-call",
        ]
    );
    assert_eq!(
        p.task_lines(),
        [
            "rae/setup-call success-team 2026-09-08T08:00:00Z done",
            "rae/setup-call success-team 2026-11-03T09:00:00Z open escalated",
        ]
    );
    assert_eq!(p.escalations(), ["success-lead: rae/setup-call"]);
    // Sam unsubscribed the day after buying: no how-to, and his next order
    // does not bring him back.
    assert_eq!(
        p.moves("sam"),
        [
            "2026-09-01T08:30:00Z enter - -> care",
            "2026-09-02T10:00:00Z exit care/howto -> opted-out",
        ]
    );
    assert_eq!(p.sent("sam"), ["2026-09-01T08:30:00Z email welcome"]);
    assert_nothing_failed(&p);
}

#[test]
fn lecture_materials_send_slides_at_once_then_weekly_material_until_a_booking() {
    let p = Project::with_examples(&["lecture-materials"]);
    // After a Thursday evening talk (2026-11-12, Budapest on UTC+1): Zoe
    // and Ada texted the keyword, Ada gave her email; Ben did the next
    // morning; Cat had unsubscribed from an earlier talk's list.
    p.write(
        "contacts.csv",
        "id,phone,email,first_name,unsubscribed\n\
         zoe,+36 30 100 0001,,Zoe,no\n\
         ada,+36 30 100 0002,ada@example.com,Ada,no\n\
         ben,+36 30 100 0003,,,no\n\
         cat,+36 30 100 0004,,Cat,yes\n",
    );
    p.event("zoe", "keyword.texted", "2026-11-12T20:30:00Z");
    p.event("cat", "keyword.texted", "2026-11-12T20:31:00Z");
    p.run_at("2026-11-12T20:35:00Z");
    p.event("zoe", "sms.clicked", "2026-11-12T20:40:00Z");
    p.run_at("2026-11-12T21:00:00Z");
    // 22:30 in Budapest: after the send window closed.
    p.event("ada", "keyword.texted", "2026-11-12T21:30:00Z");
    run_each(&p, &["2026-11-12T21:35:00Z", "2026-11-13T07:30:00Z"]);
    p.event("ben", "keyword.texted", "2026-11-13T10:00:00Z");
    run_each(
        &p,
        &[
            "2026-11-13T10:30:00Z",
            "2026-11-15T08:30:00Z",
            "2026-11-15T10:30:00Z",
            "2026-11-17T08:30:00Z",
            "2026-11-18T08:30:00Z",
        ],
    );
    p.event("ben", "sms.stop", "2026-11-19T09:00:00Z");
    run_each(
        &p,
        &[
            "2026-11-19T09:30:00Z",
            "2026-11-22T08:30:00Z",
            "2026-11-24T08:30:00Z",
            "2026-11-29T08:30:00Z",
        ],
    );
    p.event("zoe", "sms.clicked", "2026-11-29T12:00:00Z");
    run_each(&p, &["2026-11-29T12:30:00Z", "2026-12-01T08:30:00Z"]);
    p.event("zoe", "consultation.booked", "2026-12-01T10:00:00Z");
    run_each(&p, &["2026-12-01T10:30:00Z", "2026-12-08T08:30:00Z"]);
    // Ada texts the keyword again: one series per person.
    p.event("ada", "keyword.texted", "2026-12-09T19:00:00Z");
    p.run_at("2026-12-09T19:30:00Z");

    // Zoe: tagged and sent the slides at once; opening them moves her on.
    // Then weekly material at 09:00; she clicks the invitation, the
    // office's call is escalated to the speaker, and she books: a lead.
    assert_eq!(
        p.moves("zoe"),
        [
            "2026-11-12T20:35:00Z enter - -> slides",
            "2026-11-12T20:40:00Z goal slides/email-known -> nurture",
            "2026-11-29T12:00:00Z wait-yes nurture/material-invite -> nurture/interested-call",
            "2026-12-01T10:00:00Z goal nurture/nurture-close -> lead",
        ]
    );
    assert_eq!(
        p.sent("zoe"),
        [
            "2026-11-12T20:35:00Z tag join-list",
            "2026-11-12T20:35:00Z sms send-slides",
            "2026-11-15T08:00:00Z sms material-recording",
            "2026-11-22T08:00:00Z sms material-article",
            "2026-11-29T08:00:00Z sms material-invite",
            "2026-11-30T12:00:00Z notify interested-call",
            "2026-12-01T10:00:00Z notify tell-speaker",
            "2026-12-01T10:00:00Z webhook lead-crm",
        ]
    );
    // She never gave an email: the CRM gets a lead without one.
    let crm: serde_json::Value =
        serde_json::from_str(p.payload("zoe", "lead-crm")["body"].as_str().unwrap()).unwrap();
    assert_eq!(crm["email"], serde_json::Value::Null, "{crm}");
    assert_eq!(crm["phone"], "+36 30 100 0001");
    // Ada texted after the window closed: the slides wait for 08:00. She
    // never opens them, so they go to her email too; she ignores the
    // invitation and ends as alumni. Texting again starts nothing.
    assert_eq!(
        p.moves("ada"),
        [
            "2026-11-12T21:30:00Z enter - -> slides",
            "2026-11-15T07:00:00Z branch-yes slides/email-known -> slides/slides-by-email",
            "2026-11-15T07:00:00Z exhausted slides -> nurture",
            "2026-12-08T08:00:00Z wait-no nurture/material-invite -> alumni",
        ]
    );
    assert_eq!(
        p.sent("ada"),
        [
            "2026-11-12T21:30:00Z tag join-list",
            "2026-11-13T07:00:00Z sms send-slides",
            "2026-11-15T07:00:00Z email slides-by-email",
            "2026-11-17T08:00:00Z sms material-recording",
            "2026-11-24T08:00:00Z sms material-article",
            "2026-12-01T08:00:00Z sms material-invite",
            "2026-12-08T08:00:00Z tag mark-alumni",
        ]
    );
    // Ben: no email, so no slides by email; STOP after the recording.
    assert_eq!(
        p.moves("ben"),
        [
            "2026-11-13T10:00:00Z enter - -> slides",
            "2026-11-15T10:00:00Z branch-no slides/email-known -> nurture",
            "2026-11-19T09:00:00Z exit nurture/material-article -> opted-out",
        ]
    );
    assert_eq!(
        p.sent("ben"),
        [
            "2026-11-13T10:00:00Z tag join-list",
            "2026-11-13T10:00:00Z sms send-slides",
            "2026-11-18T08:00:00Z sms material-recording",
        ]
    );
    // Cat had unsubscribed: texting the keyword does not put her back.
    assert!(p.history("cat").is_empty());
    assert!(p.sent("cat").is_empty());
    assert_eq!(
        p.task_lines(),
        ["zoe/interested-call office 2026-11-30T12:00:00Z cancelled escalated"]
    );
    assert_eq!(p.escalations(), ["speaker: zoe/interested-call"]);
    assert_nothing_failed(&p);
}

const SURVEY: &str = "id,email,first_name,feedback_at,score,issue_resolved,unsubscribed\n";

#[test]
fn purchase_survey_routes_on_the_score_and_catches_up_after_missed_runs() {
    let p = Project::with_examples(&["purchase-survey"]);
    let contacts = |rows: &[(&str, &str, &str, bool)]| {
        let mut text = SURVEY.to_string();
        for (id, at, score, resolved) in rows {
            text.push_str(&format!(
                "{id},{id}@example.com,{id},{at},{score},{resolved},no\n"
            ));
        }
        p.write("contacts.csv", &text);
    };
    // Monday 2026-06-08, 09:30 in Budapest: four sales.
    let mut rows = vec![
        ("dan", "", "", false),
        ("eli", "", "", false),
        ("fay", "", "", false),
        ("gus", "", "", false),
    ];
    contacts(&rows);
    p.event("dan", "order.completed", "2026-06-08T07:30:00Z");
    p.event("eli", "service.delivered", "2026-06-08T07:40:00Z");
    p.event("fay", "order.completed", "2026-06-08T07:50:00Z");
    p.event("gus", "order.completed", "2026-06-08T07:55:00Z");
    run_each(&p, &["2026-06-08T08:00:00Z", "2026-06-09T09:00:00Z"]);
    // Dan gives 10, Eli 3.
    rows[0] = ("dan", "2026-06-09 12:00", "10", false);
    rows[1] = ("eli", "2026-06-09 13:00", "3", false);
    contacts(&rows);
    p.run_at("2026-06-10T09:00:00Z");
    p.task_done(p.task_id("eli", "recovery-call"));
    p.run_at("2026-06-11T09:00:00Z");
    // No runs from Thursday to Tuesday (the server was down). Meanwhile Dan
    // posts a review, Eli's issue is resolved and Fay answers with 7.
    p.event("dan", "review.posted", "2026-06-12T12:00:00Z");
    rows[1].3 = true;
    rows[2] = ("fay", "2026-06-13 10:00", "7", false);
    contacts(&rows);
    let catch_up = p.run_at("2026-06-16T09:00:00Z");
    assert!(
        catch_up
            .stderr
            .contains("actions queued 0 / skipped as stale 2"),
        "{}",
        catch_up.stderr
    );
    // Dan buys again within 90 days, and again after.
    p.event("dan", "order.completed", "2026-06-22T08:00:00Z");
    p.run_at("2026-06-22T09:00:00Z");
    assert_eq!(p.history("dan").len(), 4, "{:?}", p.moves("dan"));
    // The survey tool clears the last survey's answers; a run reads the
    // cleared row before Dan's next purchase (values count from the run
    // that reads them: read after it, the old answers would still hold at
    // 07:30 and answer the new survey at once).
    rows[0] = ("dan", "", "", false);
    contacts(&rows);
    p.run_at("2026-09-15T07:00:00Z");
    p.event("dan", "order.completed", "2026-09-15T07:30:00Z");
    run_each(&p, &["2026-09-15T09:00:00Z", "2026-09-16T09:00:00Z"]);

    // Dan (10): a review request; his review ends it before the reminder.
    // His June purchase, inside the 90-day gap, starts nothing, then or
    // later; September's does, with a form the next day at 10:00.
    assert_eq!(
        p.moves("dan"),
        [
            "2026-06-08T08:00:00Z enter - -> ask",
            "2026-06-10T09:00:00Z goal ask/feedback-form -> answered",
            "2026-06-10T09:00:00Z branch-yes answered/score-high -> promoter",
            "2026-06-12T12:00:00Z goal promoter/review-reminder -> reviewed",
            "2026-09-15T07:30:00Z enter - -> ask",
        ]
    );
    assert_eq!(
        p.sent("dan"),
        [
            "2026-06-09T08:00:00Z email feedback-form",
            "2026-06-10T09:00:00Z email review-request",
            "2026-09-16T08:00:00Z email feedback-form",
        ]
    );
    // Eli (3): an apology and a call (done in the tool, so never
    // escalated); recovered once the issue is resolved.
    assert_eq!(
        p.moves("eli")[1..],
        [
            "2026-06-10T09:00:00Z goal ask/feedback-form -> answered",
            "2026-06-10T09:00:00Z branch-no answered/score-high -> answered/score-low",
            "2026-06-10T09:00:00Z branch-yes answered/score-low -> detractor",
            "2026-06-16T09:00:00Z goal detractor/recovery-call -> recovered",
        ]
    );
    assert_eq!(
        p.sent("eli"),
        [
            "2026-06-09T08:00:00Z email feedback-form",
            "2026-06-10T09:00:00Z email sorry-email",
        ]
    );
    assert_eq!(
        p.task_lines(),
        ["eli/recovery-call customer-success 2026-06-11T09:00:00Z done"]
    );
    assert!(p.escalations().is_empty());
    // Fay (7) answered while no run happened. A field change is seen by
    // the run that reads it: the catch-up run at 09:00 sees her answer an
    // hour after her survey had already closed (08:00), so, as with Gus,
    // her reminder is stale and she is dated into `no-answer`. A journey
    // never depends on when a run looked at anything but the feed.
    assert_eq!(
        p.moves("fay")[1..],
        [
            "2026-06-12T08:00:00Z wait-no ask/feedback-form -> ask/feedback-reminder",
            "2026-06-16T08:00:00Z exhausted ask -> no-answer",
        ]
    );
    assert_eq!(p.payload_status("fay", "feedback-reminder"), "stale");
    // Gus never answered. The catch-up run replays his days in order: the
    // reminder, due Friday, is 4 days late and skipped as stale, and he
    // is dated into `no-answer` on Tuesday 08:00, when it happened.
    assert_eq!(
        p.moves("gus"),
        [
            "2026-06-08T08:00:00Z enter - -> ask",
            "2026-06-12T08:00:00Z wait-no ask/feedback-form -> ask/feedback-reminder",
            "2026-06-16T08:00:00Z exhausted ask -> no-answer",
        ]
    );
    assert_eq!(p.sent("gus"), ["2026-06-09T08:00:00Z email feedback-form"]);
    assert!(
        p.outbox_counts().get("stale") == Some(&2),
        "{:?}",
        p.outbox_counts()
    );
    assert_nothing_failed(&p);
}

const WINBACK: &str =
    "id,email,phone,first_name,last_order_at,survey_answered_at,wants,unsubscribed\n";

#[test]
fn win_back_surveys_lapsed_customers_then_offers_an_incentive() {
    let p = Project::with_examples(&["win-back"]);
    let contacts = |rows: &[(&str, &str, &str, &str, &str, bool)]| {
        let mut text = WINBACK.to_string();
        for (id, phone, last, answered, wants, unsubscribed) in rows {
            text.push_str(&format!(
                "{id},{id}@example.com,{phone},{id},{last},{answered},{wants},{unsubscribed}\n"
            ));
        }
        p.write("contacts.csv", &text);
    };
    // Their last orders were on Friday 2026-03-06; Pat ordered in April.
    let mut rows = vec![
        ("ivo", "+36 30 200 0001", "2026-03-06 08:00", "", "", false),
        ("jo", "+36 30 200 0002", "2026-03-06 08:00", "", "", false),
        ("kim", "", "2026-03-06 08:00", "", "", false),
        ("lou", "", "2026-03-06 08:00", "", "", false),
        ("mia", "+36 30 200 0005", "2026-03-06 08:00", "", "", false),
        ("ned", "+36 30 200 0006", "2026-03-06 08:00", "", "", false),
        ("pat", "+36 30 200 0007", "2026-04-20 08:00", "", "", false),
    ];
    contacts(&rows);
    p.run_at("2026-05-05T08:30:00Z");
    // Ivo wants better prices, Mia better service; Ned unsubscribes.
    rows[0].3 = "2026-05-06 15:00";
    rows[0].4 = "price";
    rows[4].3 = "2026-05-06 16:00";
    rows[4].4 = "service";
    rows[5].5 = true;
    contacts(&rows);
    p.run_at("2026-05-07T08:30:00Z");
    p.event("ivo", "email.clicked", "2026-05-07T12:00:00Z");
    run_each(&p, &["2026-05-07T12:30:00Z", "2026-05-12T08:30:00Z"]);
    rows[0].2 = "2026-05-13 07:00";
    contacts(&rows);
    run_each(
        &p,
        &[
            "2026-05-13T08:30:00Z",
            "2026-05-15T08:30:00Z",
            "2026-05-19T08:30:00Z",
        ],
    );
    p.event("kim", "email.opened", "2026-05-19T12:00:00Z");
    p.run_at("2026-05-19T12:30:00Z");
    rows[2].2 = "2026-05-21 10:00";
    contacts(&rows);
    run_each(
        &p,
        &[
            "2026-05-21T12:30:00Z",
            "2026-05-24T08:30:00Z",
            "2026-05-26T09:00:00Z",
            "2026-06-02T09:00:00Z",
        ],
    );

    // Ivo wants better prices: the price answer, clicked; he orders: won.
    assert_eq!(
        p.moves("ivo"),
        [
            "2026-05-05T08:30:00Z enter - -> survey",
            "2026-05-07T08:30:00Z goal survey/survey-reminder -> answered",
            "2026-05-07T08:30:00Z branch-yes answered/route-price -> answered/price-answer",
            "2026-05-07T12:00:00Z wait-yes answered/price-answer -> answered/answered-close",
            "2026-05-13T08:30:00Z goal answered/answered-close -> won",
        ]
    );
    assert_eq!(
        p.sent("ivo"),
        [
            "2026-05-05T08:30:00Z email survey-invite",
            "2026-05-07T08:30:00Z email price-answer",
            "2026-05-13T08:30:00Z tag mark-won-back",
        ]
    );
    // Mia wants better service: a call, not an email (escalated when not
    // done in a day); no order in two weeks: lapsed.
    assert_eq!(
        p.moves("mia")[2..],
        [
            "2026-05-07T08:30:00Z branch-no answered/route-price -> answered/route-range",
            "2026-05-07T08:30:00Z branch-no answered/route-range -> answered/service-call",
            "2026-05-21T08:30:00Z exhausted answered -> lapsed",
        ]
    );
    assert_eq!(
        p.sent("mia"),
        [
            "2026-05-05T08:30:00Z email survey-invite",
            "2026-05-08T08:30:00Z notify service-call",
            "2026-05-21T08:30:00Z tag mark-lapsed",
        ]
    );
    // Jo, Kim and Lou ignore the survey: the reminder on Tuesday (held from
    // Saturday), the incentive the Tuesday after (held from Friday).
    for who in ["jo", "kim", "lou"] {
        assert_eq!(
            p.sent(who)[..3],
            [
                "2026-05-05T08:30:00Z email survey-invite",
                "2026-05-12T08:00:00Z email survey-reminder",
                "2026-05-19T08:00:00Z email incentive",
            ]
        );
        assert_eq!(
            p.moves(who)[1..3],
            [
                "2026-05-15T08:00:00Z exhausted survey -> offer".to_string(),
                format!(
                    "2026-05-19T08:00:00Z split offer/incentive -> offer/{}",
                    variant(&p, who)
                ),
            ]
        );
        let template = p.payload(who, "incentive")["template"].clone();
        assert_eq!(template, format!("winback-{}", variant(&p, who)));
    }
    // Jo ignores the offer. Its SMS falls due on Sunday, and the window
    // opens on Tuesday, past the step's `stale_after: 1d`: skipped (the
    // staleness limit wins over the window), and she lapses a week later.
    assert_eq!(
        p.moves("jo")[3..],
        [
            "2026-05-24T08:00:00Z wait-no offer/incentive -> offer/sms-possible",
            "2026-05-24T08:00:00Z branch-yes offer/sms-possible -> offer/offer-sms",
            "2026-05-31T08:00:00Z exhausted offer -> lapsed",
        ]
    );
    assert_eq!(p.sent("jo")[3..], ["2026-05-31T08:00:00Z tag mark-lapsed"]);
    assert_eq!(p.payload_status("jo", "offer-sms"), "stale");
    // Lou has no phone: no SMS, lapsed a week after the offer window.
    assert_eq!(
        p.moves("lou")[3..],
        [
            "2026-05-24T08:00:00Z wait-no offer/incentive -> offer/sms-possible",
            "2026-05-24T08:00:00Z branch-no offer/sms-possible -> offer/offer-close",
            "2026-05-31T08:00:00Z exhausted offer -> lapsed",
        ]
    );
    assert_eq!(p.sent("lou")[3..], ["2026-05-31T08:00:00Z tag mark-lapsed"]);
    // Kim opens the offer and orders: won back.
    assert_eq!(
        p.moves("kim")[3..],
        [
            "2026-05-19T12:00:00Z wait-yes offer/incentive -> offer/offer-close",
            "2026-05-21T12:30:00Z goal offer/offer-close -> won",
        ]
    );
    assert_eq!(
        p.sent("kim")[3..],
        ["2026-05-21T12:30:00Z tag mark-won-back"]
    );
    // Ned unsubscribed after the invitation: no reminder.
    assert_eq!(
        p.moves("ned"),
        [
            "2026-05-05T08:30:00Z enter - -> survey",
            "2026-05-07T08:30:00Z exit survey/survey-reminder -> opted-out",
        ]
    );
    assert_eq!(p.sent("ned"), ["2026-05-05T08:30:00Z email survey-invite"]);
    // Pat ordered in April: not inactive for 60 days, never entered.
    assert!(p.history("pat").is_empty());
    assert_eq!(
        p.task_lines(),
        ["mia/service-call account-manager 2026-05-08T08:30:00Z open escalated"]
    );
    assert_eq!(p.escalations(), ["head-of-sales: mia/service-call"]);
    assert_nothing_failed(&p);
}
