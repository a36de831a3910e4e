//! The states of the platform's records besides tasks (whose machine is `tasks::state`): recipes,
//! tournaments, matches, tournament runs, evaluations, offers and webhook deliveries, each an enum with
//! its allowed moves, stored as its snake_case name. A row whose column holds anything else does not
//! read: the database cannot hand the domain a state it does not know.

/// Declares a state enum: its variants and stored names, the moves it allows, and how sqlx reads and
/// writes it as text.
macro_rules! states {
    (
        $(#[$doc:meta])*
        $name:ident { $($variant:ident = $text:literal),+ $(,)? }
        moves { $($from:ident => $to:ident),* $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|state| state.as_str() == text)
            }

            /// Whether a record in this state may move to `to`.
            pub fn can_move_to(self, to: $name) -> bool {
                match (self, to) {
                    $(($name::$from, $name::$to) => true,)*
                    _ => false,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <String as sqlx::Type<sqlx::Any>>::type_info()
            }

            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <String as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(value: <sqlx::Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Any>>::decode(value)?;
                $name::parse(text).ok_or_else(|| {
                    format!("{text:?} is not a state of {}", stringify!($name)).into()
                })
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.as_str(), buf)
            }
        }
    };
}

states! {
    /// A miner's recipe: built into an image on a trainer host, or failed with its log.
    RecipeState { Uploaded = "uploaded", Built = "built", Failed = "failed" }
    moves { Uploaded => Built, Uploaded => Failed }
}

states! {
    /// A tournament: taking entries, playing its rounds, and how it ended.
    TournamentState { Pending = "pending", Active = "active", Completed = "completed", Cancelled = "cancelled" }
    moves { Pending => Active, Pending => Cancelled, Active => Completed, Active => Cancelled }
}

states! {
    /// A match of a round: its runs being played, then decided once.
    MatchState { Playing = "playing", Decided = "decided" }
    moves { Playing => Decided }
}

states! {
    /// One entrant's run on one task of a match, recorded once: it produced a model that was scored,
    /// or it failed with the reason.
    RunState { Done = "done", Failed = "failed" }
    moves {}
}

states! {
    /// A submission's evaluation: tried again while the platform is at fault, then scored or failed.
    EvaluationState { Pending = "pending", Done = "done", Failed = "failed" }
    moves { Pending => Pending, Pending => Done, Pending => Failed }
}

states! {
    /// An offer of a task to a miner.
    OfferState { Offered = "offered", Accepted = "accepted", Declined = "declined" }
    moves { Offered => Accepted, Offered => Declined }
}

states! {
    /// A webhook delivery: retried with backoff until delivered or given up.
    DeliveryState { Pending = "pending", Delivered = "delivered", Failed = "failed" }
    moves { Pending => Pending, Pending => Delivered, Pending => Failed }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_stored_name_and_nothing_else_reads() {
        for state in TournamentState::ALL {
            assert_eq!(TournamentState::parse(state.as_str()), Some(*state));
        }
        assert_eq!(MatchState::parse("Playing"), None);
        assert_eq!(RecipeState::parse(""), None);
    }

    #[test]
    fn only_the_allowed_moves_are_allowed() {
        assert!(TournamentState::Pending.can_move_to(TournamentState::Active));
        assert!(!TournamentState::Completed.can_move_to(TournamentState::Active));
        assert!(!MatchState::Decided.can_move_to(MatchState::Playing));
        assert!(!RunState::Done.can_move_to(RunState::Failed));
        assert!(OfferState::Offered.can_move_to(OfferState::Declined));
        assert!(!OfferState::Declined.can_move_to(OfferState::Accepted));
        assert!(!DeliveryState::Delivered.can_move_to(DeliveryState::Pending));
    }
}
