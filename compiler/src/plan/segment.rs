//! Segmentation: which instructions share a kernel.
//!
//! Every instruction starts in a group of its own. Visiting instructions in
//! program order, a node's group is merged with each of its producers' groups
//! (operand order) when the union is a group some scheduler takes and the
//! merge creates no cycle among groups. Then sibling groups (groups reading a
//! common input, with no path between them) are merged the same way, which
//! makes multi-output kernels (the p, m and v updates of an optimizer step;
//! two reductions of one tensor).
//!
//! Constants (`const`, `iota`) have no producers, so they join their first
//! consumer's group as any producer does. A constant that several kernels
//! read and that is smaller than their domains cannot be an output of one of
//! them (outputs are domain-sized), so it stays a small kernel of its own;
//! frontends write scalar constants as literals, which avoids this.
//!
//! Invariants: a group is a set of instruction positions (indices into
//! program order), kept sorted; the group graph stays acyclic after every
//! merge; every group is valid for some scheduler after every merge. Merging
//! only ever makes values internal to the merged group, so other groups stay
//! valid (their outputs can only shrink).
//!
//! Cost: each merge attempt reclassifies the union and may walk the group
//! graph, so a long chain costs O(n²); fine for the graphs of v0.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use crate::ir::{Func, Node, NodeId, Op};

use super::schedulers::classify;

/// The function seen by position in program order.
pub(crate) struct Ctx<'a> {
    /// The function.
    pub f: &'a Func,
    /// Instructions in program order.
    pub order: Vec<NodeId>,
    /// Position in `order` of each instruction.
    pub pos: HashMap<NodeId, usize>,
    /// Per instruction: the positions of the instructions it reads, deduplicated, in slot order.
    pub producers: Vec<Vec<usize>>,
    /// Per instruction: the positions of its users, sorted and deduplicated.
    pub users: Vec<Vec<usize>>,
    /// Per instruction: whether the function returns it.
    pub returned: Vec<bool>,
    /// Printed names (`%3`, `%x`), for debug messages.
    pub names: HashMap<NodeId, String>,
}

impl<'a> Ctx<'a> {
    /// Indexes a verified function.
    pub fn new(f: &'a Func) -> Ctx<'a> {
        let order = f.program_order();
        let pos: HashMap<NodeId, usize> = order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let mut producers = Vec::with_capacity(order.len());
        let mut users = Vec::with_capacity(order.len());
        for &n in &order {
            let mut ps: Vec<usize> = Vec::new();
            for v in f.node(n).value_operands() {
                if let Some(&p) = pos.get(&v)
                    && !ps.contains(&p)
                {
                    ps.push(p);
                }
            }
            producers.push(ps);
            let mut us: Vec<usize> =
                f.users(n).iter().filter_map(|(u, _)| pos.get(u).copied()).collect();
            us.sort_unstable();
            us.dedup();
            users.push(us);
        }
        let returned = order.iter().map(|n| f.results().contains(n)).collect();
        Ctx { f, order, pos, producers, users, returned, names: f.printed_names(false) }
    }

    /// The instruction at a position.
    pub fn node(&self, p: usize) -> &Node {
        self.f.node(self.order[p])
    }

    /// `%name` of a value.
    pub fn label(&self, n: NodeId) -> String {
        format!("%{}", self.names.get(&n).cloned().unwrap_or_else(|| n.index().to_string()))
    }

    /// `%name = op` of the instruction at a position, for messages.
    pub fn describe(&self, p: usize) -> String {
        format!("{} = {}", self.label(self.order[p]), self.node(p).op.name())
    }

    /// Where operand `slot` of the instruction at `p` comes from: `Some(position)`
    /// for an instruction, `None` for a parameter or a literal.
    pub fn operand_pos(&self, p: usize, slot: usize) -> Option<usize> {
        let v = self.node(p).operands().get(slot)?.value()?;
        self.pos.get(&v).copied()
    }

    /// True if `op` is a constant (no operands), which merges into its consumers.
    pub fn is_constant(&self, p: usize) -> bool {
        matches!(self.node(p).op, Op::Const { .. } | Op::Iota { .. })
    }
}

/// The groups being merged.
struct Groups {
    /// Group id of each instruction position.
    group_of: Vec<usize>,
    /// Members of each group id, sorted; empty once merged into another.
    members: Vec<Vec<usize>>,
}

impl Groups {
    /// The groups reading the results of `g`.
    fn successors(&self, ctx: &Ctx<'_>, g: usize) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for &p in &self.members[g] {
            for &u in &ctx.users[p] {
                let h = self.group_of[u];
                if h != g && !out.contains(&h) {
                    out.push(h);
                }
            }
        }
        out
    }

    /// True if a path `from → c → … → to` through some third group exists:
    /// merging `from` and `to` would then put a cycle through `c`.
    fn path_via_other(&self, ctx: &Ctx<'_>, from: usize, to: usize) -> bool {
        // A group can only reach `to` if one of its nodes precedes one of
        // `to`'s in program order: prune groups starting after `to` ends.
        let to_end = self.members[to].last().copied().unwrap_or(0);
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stack: Vec<usize> =
            self.successors(ctx, from).into_iter().filter(|&g| g != to).collect();
        while let Some(g) = stack.pop() {
            if g == to {
                return true;
            }
            if !seen.insert(g) || self.members[g].first().is_none_or(|&s| s > to_end) {
                continue;
            }
            stack.extend(self.successors(ctx, g));
        }
        false
    }

    /// Merges `b` into `a` if the union is valid and acyclic; returns whether
    /// it did. `check_paths: false` skips the cycle check where the caller has
    /// proved no path through a third group exists.
    fn try_merge(
        &mut self,
        ctx: &Ctx<'_>,
        (a, b): (usize, usize),
        why: &str,
        check_paths: bool,
        debug: bool,
    ) -> bool {
        if a == b {
            return false;
        }
        let mut union: Vec<usize> =
            self.members[a].iter().chain(&self.members[b]).copied().collect();
        union.sort_unstable();
        let in_group = |p: usize| self.group_of[p] == a || self.group_of[p] == b;
        let verdict = match classify(ctx, &union, &in_group) {
            Err(reason) => Err(reason),
            Ok(_)
                if check_paths
                    && (self.path_via_other(ctx, a, b) || self.path_via_other(ctx, b, a)) =>
            {
                Err("a path between them leaves and re-enters (merging would make a cycle)".into())
            }
            Ok((kind, _)) => Ok(kind),
        };
        if debug {
            let show = |g: usize| {
                let names: Vec<String> =
                    self.members[g].iter().map(|&p| ctx.label(ctx.order[p])).collect();
                format!("{{{}}}", names.join(", "))
            };
            match &verdict {
                Ok(kind) => {
                    eprintln!("plan: {why} merge {} + {}: accepted ({kind})", show(a), show(b))
                }
                Err(reason) => {
                    eprintln!("plan: {why} merge {} + {}: refused: {reason}", show(a), show(b))
                }
            }
        }
        if verdict.is_err() {
            return false;
        }
        for &p in &self.members[b] {
            self.group_of[p] = a;
        }
        self.members[b].clear();
        self.members[a] = union;
        true
    }
}

/// Segments the function into groups of instruction positions, returned in a
/// topological order of the group graph (ties: the group starting first).
pub(crate) fn segment(ctx: &Ctx<'_>, debug: bool) -> Vec<Vec<usize>> {
    let n = ctx.order.len();
    let mut g = Groups { group_of: (0..n).collect(), members: (0..n).map(|p| vec![p]).collect() };

    // Producer → consumer.
    for p in 0..n {
        for &q in &ctx.producers[p] {
            let (a, b) = (g.group_of[q], g.group_of[p]);
            g.try_merge(ctx, (a, b), "producer", true, debug);
        }
    }

    // Siblings: groups reading a common value from outside, at most one
    // level apart in the group graph (level: longest path from a group
    // reading only parameters). A path a → c → b through a third group would
    // put b two levels past a, so such pairs merge without a cycle check
    // (which, over every pair sharing a weight, would cost O(groups²)
    // searches). Horizontal fusion is about ops at the same depth anyway.
    let mut level = group_levels(ctx, &g);
    let mut starts: Vec<usize> = (0..n).filter(|&i| !g.members[i].is_empty()).collect();
    starts.sort_by_key(|&i| g.members[i][0]);
    for a in starts {
        if g.members[a].is_empty() {
            continue;
        }
        for input in group_inputs(ctx, &g, a) {
            // Constants are duplicated-in-spirit inputs, not shared data: no
            // sibling merge on them.
            if ctx.pos.get(&input).is_some_and(|&q| ctx.is_constant(q)) {
                continue;
            }
            let mut readers: Vec<usize> = ctx
                .f
                .users(input)
                .iter()
                .filter_map(|(u, _)| ctx.pos.get(u).map(|&q| g.group_of[q]))
                .collect();
            readers.sort_by_key(|&h| g.members[h].first().copied());
            readers.dedup();
            for b in readers {
                if b != a
                    && !g.members[b].is_empty()
                    && level[a].abs_diff(level[b]) <= 1
                    && g.try_merge(ctx, (a, b), "sibling", false, debug)
                {
                    level = group_levels(ctx, &g);
                }
            }
        }
    }

    group_order(ctx, &g).into_iter().map(|i| std::mem::take(&mut g.members[i])).collect()
}

/// The values group `a` reads from outside it, in order of first use.
fn group_inputs(ctx: &Ctx<'_>, g: &Groups, a: usize) -> Vec<NodeId> {
    let mut out: Vec<NodeId> = Vec::new();
    for &p in &g.members[a] {
        for v in ctx.node(p).value_operands() {
            let inside = ctx.pos.get(&v).is_some_and(|&q| g.group_of[q] == a);
            if !inside && !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// The level of each group id: 0 for a group reading no other group, else
/// one more than the highest level among the groups it reads.
fn group_levels(ctx: &Ctx<'_>, g: &Groups) -> Vec<usize> {
    let mut level = vec![0usize; g.members.len()];
    for i in group_order(ctx, g) {
        for s in g.successors(ctx, i) {
            level[s] = level[s].max(level[i] + 1);
        }
    }
    level
}

/// Live group ids in a topological order of the group graph, the group with
/// the earliest first node going first among those ready.
fn group_order(ctx: &Ctx<'_>, g: &Groups) -> Vec<usize> {
    let live: Vec<usize> = (0..g.members.len()).filter(|&i| !g.members[i].is_empty()).collect();
    let mut indeg: HashMap<usize, usize> = live.iter().map(|&i| (i, 0)).collect();
    let succ: HashMap<usize, Vec<usize>> =
        live.iter().map(|&i| (i, g.successors(ctx, i))).collect();
    for ss in succ.values() {
        for s in ss {
            if let Some(d) = indeg.get_mut(s) {
                *d += 1;
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = live
        .iter()
        .filter(|i| indeg.get(i) == Some(&0))
        .map(|&i| Reverse((g.members[i][0], i)))
        .collect();
    let mut out = Vec::with_capacity(live.len());
    while let Some(Reverse((_, i))) = ready.pop() {
        out.push(i);
        for s in succ.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(d) = indeg.get_mut(s) {
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse((g.members[*s][0], *s)));
                }
            }
        }
    }
    // A cycle would leave groups out; `Plan::check` then reports the nodes in
    // no kernel as a planner bug rather than this function looping or panicking.
    out
}
