//! Builder: the parser's fast path. Reads the YAML event stream of the same
//! event parser serde-saphyr drives (granit-parser, with the same options)
//! straight into a [`Document`], with the spans serde-saphyr gives.
//!
//! It only builds what it can build exactly as serde-saphyr would, and gives
//! up (`None`) on everything else: YAML errors, anchors, aliases, tags, merge
//! keys, null-like, unusual or mistyped scalars, unknown, repeated or missing
//! keys, a second document, input near a budget limit. The
//! [`Parser`](crate::language::parser::Parser) then runs serde-saphyr, which stays the
//! reference for every document and the only source of parse diagnostics;
//! `tests/fuzz.rs` checks that the two agree.
//!
//! Why it exists: on a large funnel serde-saphyr's serde layer (key recording,
//! duplicate-key fingerprints, per-event bookkeeping) costs more than the
//! event parser underneath it, and parsing was most of `funnel check`.

use std::borrow::Cow;

use indexmap::IndexMap;
use serde_saphyr::Budget;
use serde_saphyr::granit_parser::{self, Event, ScalarStyle, StrInput};

use crate::language::document::{
    BranchDoc, CapsDoc, Document, ExpireDoc, MessageDoc, NotifyDoc, SendWindowDoc, Spanned,
    StaffDoc, StageDoc, StepDoc, TaskDoc, TaskKind, Text, TransitionDoc, TriggerDoc, VariantDoc,
    WaitDoc, WebhookDoc,
};
use crate::language::source::Span;

/// serde-saphyr keeps offsets and lengths in `u32`s and drops byte offsets
/// past them; below this size every span it gives is exact.
const MAX_INPUT: usize = (u32::MAX - 1) as usize;

/// Reads one file's events; see [`Builder::build`].
pub struct Builder<'a> {
    events: granit_parser::Parser<'a, StrInput<'a>>,
    peeked: Option<(Event<'a>, Span)>,
    budget: &'a Budget,
    used: Used,
}

/// How deep the document types nest: document, `stages`, stage, `steps`,
/// step, `split`, variant, `set`. Anything deeper is a shape the builder
/// gives up on, so nesting needs no count of its own.
const MAX_DEPTH: usize = 8;

/// What the input has used of the budget so far, counted as serde-saphyr
/// counts it or more, so the builder gives up before serde-saphyr would
/// report a breach.
#[derive(Default)]
struct Used {
    events: usize,
    nodes: usize,
    scalar_bytes: usize,
}

impl<'a> Builder<'a> {
    /// The document `text` holds, or `None` when serde-saphyr must decide.
    pub fn build(text: &'a str, budget: &'a Budget) -> Option<Document> {
        if text.len() >= MAX_INPUT || budget.max_depth < MAX_DEPTH {
            return None;
        }
        let mut builder = Builder {
            events: granit_parser::Parser::with_options(
                StrInput::new(text),
                Self::parser_options(budget),
            ),
            peeked: None,
            budget,
            used: Used::default(),
        };
        builder.expect(|event| matches!(event, Event::StreamStart))?;
        builder.expect(|event| matches!(event, Event::DocumentStart(_, None)))?;
        let document = Document::build(&mut builder)?;
        builder.expect(|event| matches!(event, Event::DocumentEnd))?;
        builder.expect(|event| matches!(event, Event::StreamEnd))?;
        builder.events.next().is_none().then_some(document)
    }

    /// The options serde-saphyr gives the event parser for `budget`
    /// (`Budget::parser_options`, private to it), comments off as in our
    /// build of serde-saphyr.
    fn parser_options(budget: &Budget) -> granit_parser::Options {
        let block_nesting_limit = granit_parser::Options::default()
            .block_nesting_limit
            .max(budget.max_depth.saturating_add(1));
        granit_parser::options! {
            simple_key_max_lookahead: budget.simple_key_max_lookahead,
            flow_nesting_limit: budget.flow_nesting_limit,
            block_nesting_limit: block_nesting_limit,
            emit_comments: false,
        }
    }

    /// The next event and where it is, as serde-saphyr's `Spanned` reports
    /// it: the byte offset of the event and its length in characters.
    fn next(&mut self) -> Option<(Event<'a>, Span)> {
        if let Some(peeked) = self.peeked.take() {
            return Some(peeked);
        }
        let (event, span) = self.events.next()?.ok()?;
        self.charge(&event)?;
        let offset = span.start.byte_offset()?;
        let len = span.end.index().checked_sub(span.start.index())?;
        Some((event, Span::new(offset, len)))
    }

    fn peek(&mut self) -> Option<&(Event<'a>, Span)> {
        if self.peeked.is_none() {
            self.peeked = Some(self.next()?);
        }
        self.peeked.as_ref()
    }

    /// Counts `event` against the budget; `None` for events the builder
    /// leaves to serde-saphyr: anchors, aliases, tags and anything else
    /// that is not a plain node.
    fn charge(&mut self, event: &Event<'a>) -> Option<()> {
        let used = &mut self.used;
        used.events += 1;
        match event {
            Event::Scalar(value, _, 0, None) => {
                used.nodes += 1;
                used.scalar_bytes += value.len();
            }
            Event::MappingStart(_, 0, None) | Event::SequenceStart(_, 0, None) => used.nodes += 1,
            Event::MappingEnd
            | Event::SequenceEnd
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(..)
            | Event::DocumentEnd => {}
            _ => return None,
        }
        let budget = self.budget;
        (used.events < budget.max_events
            && used.nodes < budget.max_nodes
            && used.scalar_bytes < budget.max_total_scalar_bytes)
            .then_some(())
    }

    fn expect(&mut self, want: impl FnOnce(&Event<'a>) -> bool) -> Option<()> {
        want(&self.next()?.0).then_some(())
    }

    /// Where the next node is.
    fn span(&mut self) -> Option<Span> {
        Some(self.peek()?.1)
    }

    /// The next node as a scalar serde-saphyr reads as text: not a plain
    /// null (`~`, `null`, empty), which would be `None` or an error.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        match self.next()? {
            (Event::Scalar(value, style, ..), _)
                if !(style == ScalarStyle::Plain && is_null(&value)) =>
            {
                Some(value)
            }
            _ => None,
        }
    }

    /// The next node as a plain scalar, for booleans, numbers and names.
    fn plain(&mut self) -> Option<Cow<'a, str>> {
        match self.next()? {
            (Event::Scalar(value, ScalarStyle::Plain, ..), _) => Some(value),
            _ => None,
        }
    }

    fn start_mapping(&mut self) -> Option<()> {
        self.expect(|event| matches!(event, Event::MappingStart(..)))
    }

    /// Whether the mapping or sequence being read ends here (then consumed).
    fn at_end(&mut self) -> Option<bool> {
        let end = matches!(self.peek()?.0, Event::MappingEnd | Event::SequenceEnd);
        if end {
            self.next();
        }
        Some(end)
    }

    /// The next key of a struct's mapping, `Some(None)` at its end. Field
    /// names are plain; anything else (including `<<`) is left to serde-saphyr.
    fn field(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.next()? {
            (Event::MappingEnd, _) => Some(None),
            (Event::Scalar(key, ScalarStyle::Plain, ..), _) => Some(Some(key)),
            _ => None,
        }
    }
}

/// serde-saphyr's plain nulls.
fn is_null(value: &str) -> bool {
    matches!(value, "" | "~" | "null" | "Null" | "NULL")
}

trait Build: Sized {
    fn build(builder: &mut Builder<'_>) -> Option<Self>;
}

impl Build for String {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        builder.text().map(Cow::into_owned)
    }
}

impl Build for bool {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        match &*builder.plain()? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

impl Build for u32 {
    /// Plain decimal digits only: signs, underscores, radix prefixes and
    /// leading zeros each have rules of their own in serde-saphyr.
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        let digits = builder.plain()?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits.len() == 1 || !digits.starts_with('0'));
        if canonical { digits.parse().ok() } else { None }
    }
}

impl Build for TaskKind {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        TaskKind::parse(&builder.plain()?)
    }
}

impl<T: Build> Build for Spanned<T> {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        let span = builder.span()?;
        Some(Spanned::new(T::build(builder)?, span))
    }
}

impl<T: Build> Build for Vec<T> {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        builder.expect(|event| matches!(event, Event::SequenceStart(..)))?;
        let mut items = Vec::new();
        while !builder.at_end()? {
            items.push(T::build(builder)?);
        }
        Some(items)
    }
}

impl<V: Build> Build for IndexMap<Text, V> {
    fn build(builder: &mut Builder<'_>) -> Option<Self> {
        builder.start_mapping()?;
        let mut map = IndexMap::new();
        while !builder.at_end()? {
            let key = Text::build(builder)?;
            if key.value == "<<" {
                return None;
            }
            let value = V::build(builder)?;
            if map.insert(key, value).is_some() {
                return None;
            }
        }
        Some(map)
    }
}

/// `Build` for a document struct from its keys and fields. A field is
/// `required`, `optional` (an `Option`, `None` when absent) or `default`
/// (`#[serde(default)]`); keep each list in step with the serde attributes
/// in `document.rs`.
macro_rules! build_struct {
    ($name:ident { $($key:literal => $field:ident: $kind:ident),* $(,)? }) => {
        impl Build for $name {
            fn build(builder: &mut Builder<'_>) -> Option<Self> {
                $(let mut $field = None;)*
                builder.start_mapping()?;
                while let Some(key) = builder.field()? {
                    match &*key {
                        $($key => {
                            if $field.is_some() {
                                return None;
                            }
                            $field = Some(Build::build(builder)?);
                        })*
                        _ => return None,
                    }
                }
                Some(Self { $($field: build_struct!(@$kind $field)),* })
            }
        }
    };
    (@required $field:ident) => { $field? };
    (@optional $field:ident) => { $field };
    (@default $field:ident) => { $field.unwrap_or_default() };
}

build_struct!(Document {
    "funnel" => funnel: required,
    "description" => description: optional,
    "timezone" => timezone: optional,
    "locale" => locale: optional,
    "contact" => contact: default,
    "staff" => staff: default,
    "enter" => enter: default,
    "reentry" => reentry: optional,
    "exit" => exit: default,
    "send_window" => send_window: optional,
    "working_days" => working_days: optional,
    "caps" => caps: optional,
    "expire" => expire: optional,
    "stages" => stages: required,
    "migrate" => migrate: default,
});

build_struct!(StaffDoc {
    "description" => description: optional,
    "supervisor" => supervisor: optional,
});

build_struct!(TriggerDoc {
    "when" => when: optional,
    "event" => event: optional,
    "on" => on: optional,
    "inactive" => inactive: optional,
    "for" => for_: optional,
    "create" => create: optional,
    "stage" => stage: required,
});

build_struct!(TransitionDoc {
    "when" => when: optional,
    "event" => event: optional,
    "to" => to: required,
});

build_struct!(SendWindowDoc {
    "days" => days: optional,
    "hours" => hours: optional,
});

build_struct!(CapsDoc {
    "email" => email: optional,
    "sms" => sms: optional,
    "messenger" => messenger: optional,
    "messages" => messages: optional,
});

build_struct!(ExpireDoc {
    "after" => after: required,
    "to" => to: required,
});

build_struct!(StageDoc {
    "description" => description: optional,
    "terminal" => terminal: optional,
    "goal" => goal: optional,
    "goals" => goals: default,
    "exit" => exit: default,
    "steps" => steps: default,
    "exhausted" => exhausted: optional,
});

build_struct!(StepDoc {
    "id" => id: required,
    "after" => after: optional,
    "at" => at: optional,
    "on" => on: optional,
    "stale_after" => stale_after: optional,
    "anytime" => anytime: optional,
    "email" => email: optional,
    "sms" => sms: optional,
    "messenger" => messenger: optional,
    "webhook" => webhook: optional,
    "task" => task: optional,
    "set" => set: optional,
    "tag" => tag: optional,
    "notify" => notify: optional,
    "split" => split: optional,
    "wait" => wait: optional,
    "branch" => branch: optional,
});

build_struct!(VariantDoc {
    "variant" => variant: required,
    "weight" => weight: required,
    "email" => email: optional,
    "sms" => sms: optional,
    "messenger" => messenger: optional,
    "webhook" => webhook: optional,
    "task" => task: optional,
    "set" => set: optional,
    "tag" => tag: optional,
    "notify" => notify: optional,
});

build_struct!(MessageDoc {
    "template" => template: required,
    "transactional" => transactional: default,
});

build_struct!(WebhookDoc {
    "endpoint" => endpoint: required,
    "template" => template: optional,
});

build_struct!(TaskDoc {
    "kind" => kind: required,
    "assignee" => assignee: required,
    "due" => due: optional,
    "escalate_to" => escalate_to: optional,
    "template" => template: optional,
});

build_struct!(NotifyDoc {
    "to" => to: required,
    "template" => template: required,
});

build_struct!(WaitDoc {
    "event" => event: optional,
    "when" => when: optional,
    "until" => until: optional,
    "within" => within: optional,
    "yes" => yes: optional,
    "no" => no: optional,
});

build_struct!(BranchDoc {
    "when" => when: required,
    "yes" => yes: required,
    "no" => no: required,
});
