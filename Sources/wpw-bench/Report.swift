import Foundation

/// What a figure is compared with.
enum Target {
    case atMost(Double)
    case atLeast(Double)

    func passes(_ value: Double) -> Bool {
        switch self {
        case .atMost(let limit): value <= limit
        case .atLeast(let limit): value >= limit
        }
    }

    var text: String {
        switch self {
        case .atMost(let limit): "≤ \(Report.number(limit))"
        case .atLeast(let limit): "≥ \(Report.number(limit))"
        }
    }

    var json: [String: Any] {
        switch self {
        case .atMost(let limit): ["atMost": limit]
        case .atLeast(let limit): ["atLeast": limit]
        }
    }
}

/// min / median / max of repeated measurements.
struct Spread {
    var samples: [Double]
    var count: Int { samples.count }
    var min: Double { samples.min() ?? 0 }
    var max: Double { samples.max() ?? 0 }
    var median: Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    var json: [String: Any] { ["n": count, "min": min, "median": median, "max": max] }
}

/// One reported number: the table row and the JSON member `figures[key]`.
struct Figure {
    var key: String
    var label: String
    var value: Double
    var unit: String
    var target: Target?
    var spread: Spread?
    var note: String?

    var passes: Bool? { target.map { $0.passes(value) } }

    var json: [String: Any] {
        var object: [String: Any] = ["label": label, "value": value, "unit": unit]
        if let target {
            object["target"] = target.json
            object["pass"] = target.passes(value)
        }
        if let spread { object["repeats"] = spread.json }
        if let note { object["note"] = note }
        return object
    }
}

/// A correctness check (oversell, one order per payment): a failure makes `make bench` exit non-zero.
struct Check {
    var key: String
    var label: String
    var passed: Bool
    var detail: String
    var json: [String: Any] { ["label": label, "passed": passed, "detail": detail] }
}

/// Every figure, check and sample of one run; printed as a table and written as JSON.
final class Report {
    var sections: [(title: String, figures: [Figure])] = []
    var checks: [Check] = []
    var notes: [String] = []
    var extra: [String: Any] = [:]

    func section(_ title: String) { sections.append((title, [])) }

    func add(_ figure: Figure) { sections[sections.count - 1].figures.append(figure) }

    func add(_ key: String, _ label: String, _ value: Double, _ unit: String, target: Target? = nil, spread: Spread? = nil, note: String? = nil) {
        add(Figure(key: key, label: label, value: value, unit: unit, target: target, spread: spread, note: note))
    }

    func check(_ key: String, _ label: String, _ passed: Bool, _ detail: String) {
        checks.append(Check(key: key, label: label, passed: passed, detail: detail))
    }

    var allFigures: [Figure] { sections.flatMap(\.figures) }
    var correctnessFailed: Bool { checks.contains { !$0.passed } }

    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e12 { return String(Int64(value)) }
        if abs(value) >= 100 { return String(format: "%.0f", value) }
        if abs(value) >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    func table() -> String {
        let rows: [(String, String, String, String, String)] = sections.flatMap { section in
            [("", "", "", "", "")] + [(section.title, "", "", "", "")] + section.figures.map { figure in
                let spread = figure.spread.map { "min \(Report.number($0.min)) · med \(Report.number($0.median)) · max \(Report.number($0.max)) (n=\($0.count))" } ?? ""
                let mark = figure.passes.map { $0 ? "PASS" : "miss" } ?? ""
                return ("  " + figure.label, Report.number(figure.value) + " " + figure.unit,
                        figure.target.map { $0.text + " " + figure.unit } ?? "", mark, [spread, figure.note ?? ""].filter { !$0.isEmpty }.joined(separator: "; "))
            }
        }
        let widths = [rows.map(\.0.count).max() ?? 0, rows.map(\.1.count).max() ?? 0, rows.map(\.2.count).max() ?? 0, 4]
        func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
            let gap = String(repeating: " ", count: max(0, width - text.count))
            return right ? gap + text : text + gap
        }
        var out = pad("figure", widths[0]) + "  " + pad("value", widths[1], right: true) + "  " + pad("target", widths[2]) + "  mark  spread / note\n"
        out += String(repeating: "─", count: widths.reduce(0, +) + 30) + "\n"
        for row in rows {
            if row.1.isEmpty && row.2.isEmpty {
                out += row.0 + "\n"
                continue
            }
            out += pad(row.0, widths[0]) + "  " + pad(row.1, widths[1], right: true) + "  " + pad(row.2, widths[2]) + "  "
                + pad(row.3, widths[3]) + "  " + row.4 + "\n"
        }
        out += "\nCorrectness checks\n"
        for check in checks { out += "  \(check.passed ? "ok  " : "FAIL") \(check.label): \(check.detail)\n" }
        let misses = allFigures.filter { $0.passes == false }.count
        let targeted = allFigures.filter { $0.target != nil }.count
        out += "\nTargets met: \(targeted - misses)/\(targeted)"
        out += correctnessFailed ? "  —  CORRECTNESS FAILURE\n" : "  —  correctness checks all passed\n"
        for note in notes { out += "note: \(note)\n" }
        return out
    }

    func json(header: [String: Any]) -> [String: Any] {
        var object = header
        object["figures"] = Dictionary(allFigures.map { ($0.key, $0.json) }, uniquingKeysWith: { _, last in last })
        object["sections"] = sections.map { ["title": $0.title, "keys": $0.figures.map(\.key)] }
        object["checks"] = Dictionary(checks.map { ($0.key, $0.json) }, uniquingKeysWith: { _, last in last })
        object["notes"] = notes
        for (key, value) in extra { object[key] = value }
        let misses = allFigures.filter { $0.passes == false }.map(\.key)
        object["summary"] = [
            "targets": allFigures.filter { $0.target != nil }.count, "missed": misses,
            "correctnessFailed": correctnessFailed,
        ]
        return object
    }
}
