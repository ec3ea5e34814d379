//! A step's task: made for whom the funnel names, or, when that is
//! nobody on the staff, for whom the step's `escalate_to` or the funnel's
//! head is; its brief rendered now.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use crate::language::model::{self, Assignee};
use crate::run::walk::Walk;
use crate::store::{self, StoreError, Task, TaskStatus};

use super::Acted;

impl Walk<'_, '_, '_, '_, '_, '_> {
    /// Makes the task of a step: its brief rendered now, for whom the
    /// funnel says or, when that is nobody, for whom [`Walk::assign`] finds.
    pub(super) fn task(
        &mut self,
        task: &model::Task,
        (key, step, due): (String, &str, DateTime<Utc>),
        data: &Json,
    ) -> Result<Acted, StoreError> {
        let (assignee, mut notes) = self.assign(task);
        let status = if notes.is_empty() || self.funnel().head().is_some() {
            TaskStatus::Open
        } else {
            TaskStatus::Failed
        };
        // A brief that cannot render does not stop the work: the task is
        // made and says why its brief is missing.
        let brief = match task.template.as_ref().map(|t| self.render(t, data)) {
            Some(Ok(text)) => Some(text),
            Some(Err(error)) => {
                notes.push(error);
                None
            }
            None => None,
        };
        let reason = (!notes.is_empty()).then(|| notes.join("; "));
        let made = Task {
            id: 0,
            key: key.clone(),
            funnel: self.funnel().name.clone(),
            contact: self.contact.id.clone(),
            step: step.to_string(),
            kind: task.kind,
            assignee: assignee.clone(),
            escalate_to: task.escalate_to.clone(),
            created_at: due,
            due_at: task.due.map(|d| {
                due.checked_add_signed(d)
                    .unwrap_or(DateTime::<Utc>::MAX_UTC)
            }),
            status,
            escalated_at: None,
            reason: reason.clone(),
            brief,
        };
        let known = self.known_new(&key);
        let added = self
            .runner
            .add(self.tx, known, move |tx, _| store::add_task(tx, &made))?;
        if added {
            self.queued_under(&key, due);
            let (funnel, contact) = (&self.loaded.funnel.name, &self.contact.id);
            if status == TaskStatus::Failed {
                self.runner.summary.failed += 1;
                let why = reason.unwrap_or_default();
                let what = format_args!("task {step} failed: {why}");
                self.runner.plan(funnel, contact, due, what);
            } else {
                self.runner.summary.tasks += 1;
                let what = format_args!("task {step} for {assignee}");
                self.runner.plan(funnel, contact, due, what);
            }
        }
        Ok(Acted::Queued)
    }

    /// Who does `task`, with notes saying why when it is not the assignee
    /// the funnel named: that one is empty or not in `staff:`, so the task
    /// goes to the step's `escalate_to`, else the funnel's head. With no
    /// staff at all the named assignee is kept and the note says nobody
    /// can do it (the caller fails the task).
    fn assign(&self, task: &model::Task) -> (String, Vec<String>) {
        let named = self.assignee(&task.assignee);
        let staff = &self.funnel().staff;
        if staff.contains_key(&named) {
            return (named, Vec::new());
        }
        let who = match &task.assignee {
            Assignee::Field(field) => format!("`contact.{field}`"),
            Assignee::Staff(_) => "the assignee".to_string(),
        };
        let why = if named.trim().is_empty() {
            format!("{who} is empty")
        } else {
            format!("{who} names `{named}`, who is not in staff")
        };
        let fallback = task
            .escalate_to
            .as_deref()
            .filter(|e| staff.contains_key(*e))
            .or_else(|| self.funnel().head());
        match fallback {
            Some(to) => (to.to_string(), vec![format!("{why}: assigned to {to}")]),
            None => (
                named,
                vec![format!(
                    "{why} and the funnel has no staff: nobody can do it"
                )],
            ),
        }
    }

    pub(super) fn assignee(&self, assignee: &Assignee) -> String {
        match assignee {
            Assignee::Staff(name) => name.clone(),
            Assignee::Field(field) => self.field_text(field).unwrap_or_default(),
        }
    }
}
