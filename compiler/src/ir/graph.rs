//! Functions as graphs: a petgraph `StableGraph` of [`Node`]s with typed ids
//! ([`NodeId`], printed `%12`) and input-slot edges.
//!
//! Invariants kept by every mutating method here (passes never touch the
//! petgraph directly): a node's `operands` list is the truth, and the graph
//! holds exactly one edge `producer -> user` weighted with the slot for every
//! value operand, so `users()` is cheap and toposorts see every dependency.
//! Program order is a topological order, ties broken by creation order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;

use petgraph::Direction;
use petgraph::stable_graph::{NodeIndex, StableGraph};
use petgraph::visit::EdgeRef;

use super::op::{Op, OperandType, Scalar, TypeError};
use super::types::{Layout, Type};

/// A typed id of a node of one [`Func`]. Ids are stable across removals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) NodeIndex<u32>);

impl NodeId {
    /// The raw index (creation order; holes after removals).
    pub fn index(self) -> usize {
        self.0.index()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0.index())
    }
}

/// One operand of a node: a value, or an inline scalar literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operand {
    /// The result of another node.
    Value(NodeId),
    /// An inline literal (only where [`Op::takes_literals`]).
    Lit(Scalar),
}

impl Operand {
    /// The node, if this operand is a value.
    pub fn value(self) -> Option<NodeId> {
        match self {
            Operand::Value(v) => Some(v),
            Operand::Lit(_) => None,
        }
    }
}

/// A line and column (1-based) in a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Line, from 1.
    pub line: u32,
    /// Column (in characters), from 1.
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// An instruction or parameter: op, operands, result type.
#[derive(Clone, Debug)]
pub struct Node {
    /// The op and its attributes.
    pub op: Op,
    /// Operands in slot order.
    pub(crate) operands: Vec<Operand>,
    /// The result type.
    pub ty: Type,
    /// The name from the source (parameters always have one).
    pub name: Option<String>,
    /// Where the node was written, if it was parsed.
    pub span: Option<Span>,
}

impl Node {
    /// Operands in slot order.
    pub fn operands(&self) -> &[Operand] {
        &self.operands
    }

    /// The value operands, in slot order.
    pub fn value_operands(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.operands.iter().filter_map(|o| o.value())
    }
}

/// A function: parameters, instructions, results.
#[derive(Clone, Debug)]
pub struct Func {
    /// The name after `@`.
    pub name: String,
    graph: StableGraph<Node, usize, petgraph::Directed, u32>,
    params: Vec<NodeId>,
    results: Vec<NodeId>,
    /// Where `return` was written, if parsed.
    pub return_span: Option<Span>,
    /// Where `func` was written, if parsed.
    pub span: Option<Span>,
}

/// A file: one or more functions.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Module {
    /// The functions, in file order.
    pub funcs: Vec<Func>,
}

impl Module {
    /// The function named `name`.
    pub fn func(&self, name: &str) -> Option<&Func> {
        self.funcs.iter().find(|f| f.name == name)
    }
}

impl Func {
    /// An empty function.
    pub fn new(name: impl Into<String>) -> Func {
        Func {
            name: name.into(),
            graph: StableGraph::default(),
            params: Vec::new(),
            results: Vec::new(),
            return_span: None,
            span: None,
        }
    }

    /// Appends a parameter.
    pub fn add_param(&mut self, name: impl Into<String>, ty: Type, layout: Layout) -> NodeId {
        let index = self.params.len();
        let id = NodeId(self.graph.add_node(Node {
            op: Op::Param { index, layout },
            operands: Vec::new(),
            ty,
            name: Some(name.into()),
            span: None,
        }));
        self.params.push(id);
        id
    }

    /// Adds an instruction with a given result type (checked by the verifier,
    /// not here: the parser must be able to build what it then reports).
    pub fn add_node(&mut self, op: Op, operands: Vec<Operand>, ty: Type) -> NodeId {
        let id = NodeId(self.graph.add_node(Node {
            op,
            operands: Vec::new(),
            ty,
            name: None,
            span: None,
        }));
        self.set_operands(id, operands);
        id
    }

    /// Adds a copy of node `n` of `src` (its op and type), each value
    /// operand renamed through `map`, which must hold every one of them
    /// (callers copy in program order); returns the new node.
    pub fn import_node(&mut self, src: &Func, n: NodeId, map: &HashMap<NodeId, NodeId>) -> NodeId {
        let node = src.node(n);
        let operands = node
            .operands()
            .iter()
            .map(|o| match o {
                Operand::Value(v) => Operand::Value(map[v]),
                Operand::Lit(s) => Operand::Lit(*s),
            })
            .collect();
        self.add_node(node.op.clone(), operands, node.ty.clone())
    }

    /// Adds an instruction whose type the op's type rule infers.
    pub fn add_inferred(&mut self, op: Op, operands: Vec<Operand>) -> Result<NodeId, TypeError> {
        let ty = self.infer_type(&op, &operands, None)?;
        Ok(self.add_node(op, operands, ty))
    }

    /// Runs `op`'s type rule over operands of this function.
    pub fn infer_type(
        &self,
        op: &Op,
        operands: &[Operand],
        declared: Option<&Type>,
    ) -> Result<Type, TypeError> {
        let tys: Vec<OperandType<'_>> = operands
            .iter()
            .map(|o| match o {
                Operand::Value(v) => OperandType::Value(&self.graph[v.0].ty),
                Operand::Lit(s) => OperandType::Lit(*s),
            })
            .collect();
        op.infer_type(&tys, declared)
    }

    /// The node behind an id. Panics on a removed id: that is a compiler bug.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.graph[id.0]
    }

    /// Mutable access to a node's op, type and name (operands: [`Func::set_operands`]).
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.graph[id.0]
    }

    /// True if the id names a live node.
    pub fn contains(&self, id: NodeId) -> bool {
        self.graph.contains_node(id.0)
    }

    /// The result type of a node.
    pub fn ty(&self, id: NodeId) -> &Type {
        &self.graph[id.0].ty
    }

    /// Replaces a node's operands, keeping the edges in step.
    pub fn set_operands(&mut self, id: NodeId, operands: Vec<Operand>) {
        let old: Vec<_> =
            self.graph.edges_directed(id.0, Direction::Incoming).map(|e| e.id()).collect();
        for e in old {
            self.graph.remove_edge(e);
        }
        for (slot, o) in operands.iter().enumerate() {
            if let Operand::Value(v) = o {
                self.graph.add_edge(v.0, id.0, slot);
            }
        }
        self.graph[id.0].operands = operands;
    }

    /// Every use of `id`: (user, slot), sorted.
    pub fn users(&self, id: NodeId) -> Vec<(NodeId, usize)> {
        let mut u: Vec<_> = self
            .graph
            .edges_directed(id.0, Direction::Outgoing)
            .map(|e| (NodeId(e.target()), *e.weight()))
            .collect();
        u.sort();
        u
    }

    /// Number of graph edges into `id` (the verifier checks it against the operands).
    pub(crate) fn in_edge_count(&self, id: NodeId) -> usize {
        self.graph.edges_directed(id.0, Direction::Incoming).count()
    }

    /// True if `id` is used by a node or returned.
    pub fn is_used(&self, id: NodeId) -> bool {
        self.graph.edges_directed(id.0, Direction::Outgoing).next().is_some()
            || self.results.contains(&id)
    }

    /// Redirects every use of `old` (operands and results) to `new`.
    pub fn replace_all_uses(&mut self, old: NodeId, new: NodeId) {
        if old == new {
            return;
        }
        for (user, _) in self.users(old) {
            let ops = self.graph[user.0]
                .operands
                .iter()
                .map(|&o| if o == Operand::Value(old) { Operand::Value(new) } else { o })
                .collect();
            self.set_operands(user, ops);
        }
        for r in &mut self.results {
            if *r == old {
                *r = new;
            }
        }
    }

    /// Removes an instruction. Its users must already be gone or redirected;
    /// parameters are never removed (the signature is fixed).
    pub fn remove_node(&mut self, id: NodeId) {
        debug_assert!(!matches!(self.graph[id.0].op, Op::Param { .. }), "removing a parameter");
        self.graph.remove_node(id.0);
    }

    /// The parameters, in signature order.
    pub fn params(&self) -> &[NodeId] {
        &self.params
    }

    /// The returned values, in order.
    pub fn results(&self) -> &[NodeId] {
        &self.results
    }

    /// Sets the returned values.
    pub fn set_results(&mut self, results: Vec<NodeId>) {
        self.results = results;
    }

    /// Every live node id (parameters included), in creation order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.graph.node_indices().map(NodeId).collect()
    }

    /// Number of live nodes, parameters included.
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    /// True if the function has no node at all.
    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Instructions (not parameters) in program order: a topological order,
    /// ties broken by creation order. `Err` holds the nodes on or after a
    /// cycle, which the verifier reports.
    pub fn try_program_order(&self) -> Result<Vec<NodeId>, Vec<NodeId>> {
        let mut indeg: HashMap<NodeIndex<u32>, usize> = HashMap::new();
        let mut ready = BinaryHeap::new();
        for n in self.graph.node_indices() {
            let d = self.graph.edges_directed(n, Direction::Incoming).count();
            indeg.insert(n, d);
            if d == 0 {
                ready.push(Reverse(n));
            }
        }
        let mut order = Vec::with_capacity(self.graph.node_count());
        while let Some(Reverse(n)) = ready.pop() {
            order.push(NodeId(n));
            for e in self.graph.edges_directed(n, Direction::Outgoing) {
                let d = indeg.get_mut(&e.target()).expect("edge to a live node");
                *d -= 1;
                if *d == 0 {
                    ready.push(Reverse(e.target()));
                }
            }
        }
        if order.len() != self.graph.node_count() {
            let done: std::collections::HashSet<_> = order.iter().copied().collect();
            return Err(self.node_ids().into_iter().filter(|n| !done.contains(n)).collect());
        }
        order.retain(|n| !matches!(self.graph[n.0].op, Op::Param { .. }));
        Ok(order)
    }

    /// Program order of a verified (acyclic) function.
    pub fn program_order(&self) -> Vec<NodeId> {
        match self.try_program_order() {
            Ok(o) => o,
            // A cycle is a compiler bug (the verifier rejects it first); print
            // what we can rather than loop.
            Err(_) => self
                .node_ids()
                .into_iter()
                .filter(|n| !matches!(self.node(*n).op, Op::Param { .. }))
                .collect(),
        }
    }

    /// The name each value prints as: parameters keep their names; instructions
    /// are numbered `0, 1, …` in program order (skipping numbers a parameter
    /// already uses), or keep their own names when `keep_names` is set.
    pub fn printed_names(&self, keep_names: bool) -> HashMap<NodeId, String> {
        let mut names = HashMap::new();
        let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
        for &p in &self.params {
            let n = self.graph[p.0].name.clone().unwrap_or_else(|| format!("arg{}", p.index()));
            taken.insert(n.clone());
            names.insert(p, n);
        }
        let mut next = 0usize;
        for id in self.program_order() {
            let own = self.graph[id.0].name.clone().filter(|_| keep_names);
            let name = match own {
                Some(n) if !taken.contains(&n) => n,
                _ => loop {
                    let cand = next.to_string();
                    next += 1;
                    if !taken.contains(&cand) {
                        break cand;
                    }
                },
            };
            taken.insert(name.clone());
            names.insert(id, name);
        }
        names
    }
}

/// Structural equality: same name, signature, instructions in program order
/// (op, operands by position, type) and results. Value names and spans are
/// cosmetic and ignored, so `parse(print(f)) == f`.
impl PartialEq for Func {
    fn eq(&self, other: &Func) -> bool {
        if self.name != other.name || self.params.len() != other.params.len() {
            return false;
        }
        let sig = |f: &Func, p: NodeId| {
            let n = f.node(p);
            (n.name.clone(), n.ty.clone(), n.op.clone())
        };
        if self.params.iter().zip(&other.params).any(|(&a, &b)| sig(self, a) != sig(other, b)) {
            return false;
        }
        let (oa, ob) = (self.program_order(), other.program_order());
        if oa.len() != ob.len() {
            return false;
        }
        let pos = |f: &Func, order: &[NodeId]| -> HashMap<NodeId, usize> {
            let mut m: HashMap<NodeId, usize> =
                f.params.iter().enumerate().map(|(i, &p)| (p, i)).collect();
            m.extend(order.iter().enumerate().map(|(i, &n)| (n, f.params.len() + i)));
            m
        };
        let (pa, pb) = (pos(self, &oa), pos(other, &ob));
        let key = |o: &Operand, p: &HashMap<NodeId, usize>| match o {
            Operand::Value(v) => (p.get(v).copied(), None),
            Operand::Lit(s) => (None, Some(*s)),
        };
        for (&a, &b) in oa.iter().zip(&ob) {
            let (na, nb) = (self.node(a), other.node(b));
            if na.op != nb.op || na.ty != nb.ty || na.operands.len() != nb.operands.len() {
                return false;
            }
            if na.operands.iter().zip(&nb.operands).any(|(x, y)| key(x, &pa) != key(y, &pb)) {
                return false;
            }
        }
        self.results.len() == other.results.len()
            && self.results.iter().zip(&other.results).all(|(a, b)| pa.get(a) == pb.get(b))
    }
}
