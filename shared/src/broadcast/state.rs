//! A broadcast's lifecycle: its states and, in one table ([`TRANSITIONS`]),
//! every move between them the system may make. The store moves a
//! broadcast only along this table (a conditional write on the state it
//! is in), so no call site lists "from" states of its own.

use serde::{Deserialize, Serialize};

/// Where a broadcast is in its life, stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastState {
    /// Created, waiting for its `send_at` (or for the scheduler to start it).
    Scheduled,
    /// Started: its audience shards are being planned, nothing queued yet.
    Planning,
    /// Send jobs are queued.
    Sending,
    /// Every queued job is accounted for. Final.
    Done,
    /// Cancelled through the API. Final.
    Cancelled,
    /// Halted by a Send API error about the page (token, permission,
    /// abuse) or by the marketer (`POST /v1/broadcasts/<id>/pause`); its
    /// jobs are parked, not sent. Resuming or cancelling moves it on.
    Paused,
}

use BroadcastState::*;

/// Every allowed move `(from, to)`, and only these:
///
/// | to | from | who |
/// |---|---|---|
/// | planning | scheduled | API (send now) and scheduler, through `dispatch::start` |
/// | sending | planning | planner, once it queued the first send job |
/// | done | planning, sending | whoever sees every job accounted for |
/// | paused | planning, sending | sender, on a page-level Send API error or page protection; API pause |
/// | sending | paused | API resume only (`BroadcastStore::resume`), see [`BroadcastState::automatic_from`] |
/// | cancelled | scheduled, planning, sending, paused | API |
pub const TRANSITIONS: &[(BroadcastState, BroadcastState)] = &[
    (Scheduled, Planning),
    (Planning, Sending),
    (Planning, Done),
    (Sending, Done),
    (Planning, Paused),
    (Sending, Paused),
    (Paused, Sending),
    (Scheduled, Cancelled),
    (Planning, Cancelled),
    (Sending, Cancelled),
    (Paused, Cancelled),
];

impl BroadcastState {
    /// Every state, in lifecycle order.
    pub const ALL: [BroadcastState; 6] = [Scheduled, Planning, Sending, Done, Cancelled, Paused];

    /// The stored spelling (`"scheduled"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheduled => "scheduled",
            Planning => "planning",
            Sending => "sending",
            Done => "done",
            Cancelled => "cancelled",
            Paused => "paused",
        }
    }

    /// The state stored as `raw`; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "scheduled" => Scheduled,
            "planning" => Planning,
            "sending" => Sending,
            "done" => Done,
            "cancelled" => Cancelled,
            "paused" => Paused,
            _ => return None,
        })
    }

    /// Jobs of a broadcast in these states may still send.
    pub fn is_active(self) -> bool {
        matches!(self, Planning | Sending)
    }

    /// Whether [`TRANSITIONS`] allows moving from `self` to `to`.
    pub fn may_become(self, to: BroadcastState) -> bool {
        TRANSITIONS.contains(&(self, to))
    }

    /// The states a broadcast may be in to move to `self` (empty for
    /// `scheduled`, which only creation sets), in lifecycle order.
    pub fn allowed_from(self) -> Vec<BroadcastState> {
        Self::ALL.into_iter().filter(|from| from.may_become(self)).collect()
    }

    /// [`BroadcastState::allowed_from`] without a resume: the states an
    /// ordinary move to `self` may start from. Leaving `paused` for an
    /// active state is only ever the marketer's resume, which names
    /// `paused` itself; so the planner moving planning → sending, or a
    /// start, can never un-pause a broadcast paused meanwhile.
    pub fn automatic_from(self) -> Vec<BroadcastState> {
        self.allowed_from()
            .into_iter()
            .filter(|from| !(*from == Paused && self.is_active()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every move the code makes, by call site: each must be in the table.
    /// (`BroadcastStore::transition` moves from `automatic_from`; the
    /// resume names its one state.)
    const PERFORMED: &[(&str, &[BroadcastState], BroadcastState)] = &[
        ("dispatch::start", &[Scheduled], Planning),
        ("planner: first send job queued", &[Planning], Sending),
        ("BroadcastStore::finish_if_complete", &[Planning, Sending], Done),
        (
            "sender: page-level Send API error, page protection; api: pause",
            &[Planning, Sending],
            Paused,
        ),
        ("api: resume", &[Paused], Sending),
        ("api: cancel", &[Scheduled, Planning, Sending, Paused], Cancelled),
    ];

    #[test]
    fn every_transition_the_code_performs_is_in_the_table() {
        for (site, from, to) in PERFORMED {
            if *site == "api: resume" {
                assert!(!to.automatic_from().contains(&Paused), "{site}");
            } else {
                assert_eq!(&to.automatic_from(), from, "{site}");
            }
            for f in *from {
                assert!(f.may_become(*to), "{site}: {f:?} -> {to:?}");
            }
        }
        // And the table holds nothing the code does not do.
        let performed: usize = PERFORMED.iter().map(|(_, from, _)| from.len()).sum();
        assert_eq!(performed, TRANSITIONS.len());
    }

    #[test]
    fn only_a_resume_takes_a_paused_broadcast_back_to_sending() {
        assert!(Paused.may_become(Sending));
        assert!(!Sending.automatic_from().contains(&Paused));
        assert!(!Planning.automatic_from().contains(&Paused));
        assert!(!Paused.may_become(Planning));
        assert_eq!(Cancelled.automatic_from(), Cancelled.allowed_from());
    }

    #[test]
    fn final_states_never_move() {
        for to in BroadcastState::ALL {
            assert!(!Done.may_become(to), "done -> {to:?}");
            assert!(!Cancelled.may_become(to), "cancelled -> {to:?}");
        }
    }

    #[test]
    fn forbidden_moves_are_refused() {
        for (from, to) in [
            (Scheduled, Sending),
            (Scheduled, Done),
            (Scheduled, Paused),
            (Sending, Planning),
            (Paused, Planning),
            (Paused, Done),
            (Planning, Scheduled),
            (Sending, Scheduled),
        ] {
            assert!(!from.may_become(to), "{from:?} -> {to:?}");
        }
        for s in BroadcastState::ALL {
            assert!(!s.may_become(s), "{s:?} -> itself");
            assert!(!s.may_become(Scheduled), "nothing goes back to scheduled");
        }
        assert!(Scheduled.allowed_from().is_empty());
    }

    #[test]
    fn every_state_round_trips_its_stored_spelling() {
        for s in BroadcastState::ALL {
            assert_eq!(BroadcastState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(BroadcastState::parse("Done"), None);
    }
}
