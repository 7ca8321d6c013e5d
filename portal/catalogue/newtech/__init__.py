"""New technologies (新技术新项目): application through the engine, trial period, progress reports, closing."""
