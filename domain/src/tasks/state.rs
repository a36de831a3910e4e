//! A task's states (Gradients' names, plus `cancelled`) and the moves between them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Created; waiting for its data to be prepared.
    Pending,
    PreparingData,
    PrepTaskFailure,
    /// Offers are out to a pool of miners.
    LookingForNodes,
    FailureFindingNodes,
    /// Too few miners accepted; offers go out again later.
    Delayed,
    /// The pool is set; the window is about to start.
    Ready,
    /// The window is open: miners train and submit.
    Training,
    Preevaluation,
    Evaluating,
    Success,
    Failure,
    Cancelled,
}

use TaskState::*;

impl TaskState {
    const ALL: [TaskState; 13] = [
        Pending,
        PreparingData,
        PrepTaskFailure,
        LookingForNodes,
        FailureFindingNodes,
        Delayed,
        Ready,
        Training,
        Preevaluation,
        Evaluating,
        Success,
        Failure,
        Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Pending => "pending",
            PreparingData => "preparing_data",
            PrepTaskFailure => "prep_task_failure",
            LookingForNodes => "looking_for_nodes",
            FailureFindingNodes => "failure_finding_nodes",
            Delayed => "delayed",
            Ready => "ready",
            Training => "training",
            Preevaluation => "preevaluation",
            Evaluating => "evaluating",
            Success => "success",
            Failure => "failure",
            Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// A state a task never leaves.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            PrepTaskFailure | FailureFindingNodes | Success | Failure | Cancelled
        )
    }

    /// Whether an admin may have the task's submissions evaluated again, which moves it back from
    /// this (terminal) state to `evaluating`: the one way out of a terminal state, taken only then.
    pub fn can_be_reevaluated(self) -> bool {
        matches!(self, Success | Failure)
    }

    /// Whether a task may move from this state to `to`. Any state but a terminal one may be cancelled.
    pub fn can_move_to(self, to: TaskState) -> bool {
        if to == Cancelled {
            return !self.is_terminal();
        }
        matches!(
            (self, to),
            (Pending, PreparingData)
                | (PreparingData, LookingForNodes | PrepTaskFailure)
                // Champion mode: the champion's recipe needs no pool.
                | (PreparingData, Ready)
                | (LookingForNodes, Ready | Delayed | FailureFindingNodes)
                | (Delayed, LookingForNodes | FailureFindingNodes)
                | (Ready, Training)
                | (Training, Preevaluation)
                | (Preevaluation, Evaluating | Failure)
                | (Evaluating, Success | Failure)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_terminal_states_are_final() {
        for state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()), Some(state));
            if state.is_terminal() {
                assert!(
                    TaskState::ALL.iter().all(|to| !state.can_move_to(*to)),
                    "{state:?}"
                );
            } else {
                assert!(state.can_move_to(Cancelled), "{state:?}");
            }
        }
    }

    #[test]
    fn the_happy_path_is_allowed_and_shortcuts_are_not() {
        let path = [
            Pending,
            PreparingData,
            LookingForNodes,
            Ready,
            Training,
            Preevaluation,
            Evaluating,
            Success,
        ];
        for pair in path.windows(2) {
            assert!(pair[0].can_move_to(pair[1]), "{pair:?}");
        }
        assert!(!Pending.can_move_to(Training));
        assert!(!LookingForNodes.can_move_to(Success));
        assert!(Delayed.can_move_to(FailureFindingNodes));
        assert!(PreparingData.can_move_to(Ready), "champion mode");
        assert!(!PreparingData.can_move_to(Training));
    }
}
