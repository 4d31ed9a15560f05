import WPWithinCore

extension Output {
    /// The params of `call METHOD WORDS…`:
    /// - nothing: no params;
    /// - one JSON object (a word starting with `{`, or `null`): those params;
    /// - `-`: a JSON object read from stdin (`readStdin`);
    /// - `key=value` words: one param each; a value that is valid JSON (numbers, `true`, `false`, `null`,
    ///   objects, arrays, quoted strings) is that JSON, anything else is the text as a string.
    static func callParams(_ words: [String], readStdin: () -> String) throws(ParamsError) -> [String: JSONValue]? {
        guard let first = words.first else { return nil }
        if first == "-" || first.hasPrefix("{") || first.hasPrefix("[") || first == "null" || words.count == 1 && !first.contains("=") {
            guard words.count == 1 else {
                throw ParamsError(message: "give the params as one JSON object, '-' or key=value words, not both")
            }
            if first == "-" {
                let text = readStdin()
                guard !text.allSatisfy(\.isWhitespace) else { return nil }
                return try parseParams(text)
            }
            return try parseParams(first)
        }
        var params: [String: JSONValue] = [:]
        for word in words {
            guard let equals = word.firstIndex(of: "="), equals != word.startIndex else {
                throw ParamsError(message: "'\(word)' is not key=value (params are a JSON object, '-' for stdin, or key=value words)")
            }
            let key = String(word[..<equals])
            guard params[key] == nil else { throw ParamsError(message: "the param '\(key)' is given twice") }
            params[key] = paramValue(String(word[word.index(after: equals)...]))
        }
        return params
    }

    /// A `key=value` value: the JSON it is, when it is valid JSON; else the text as a string.
    static func paramValue(_ text: String) -> JSONValue {
        (try? JSONValue.parse(text)) ?? .string(text)
    }
}
